// The example app: answers / and /health on $PORT, logs each request.
'use strict';
const http = require('node:http');

const port = Number(process.env.PORT || 18080);
const greeting = process.env.GREETING || 'hello';

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.end('OK');
    return;
  }
  console.log(`${req.method} ${req.url}`);
  res.end(`${greeting} from pid ${process.pid} on port ${port}\n`);
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening on 127.0.0.1:${port}`);
});

process.on('SIGTERM', () => {
  console.log('SIGTERM: closing');
  server.close(() => process.exit(0));
});
