// tests/app/server.js: the Node server the integration tests supervise.
// No dependencies; behaviour chosen by environment variables:
//   PORT             listen on 127.0.0.1:PORT (no PORT: do not listen)
//   BIND_DELAY_MS    wait this long before listening
//   EXIT_AT_START=N  exit with code N at once
//   CRASH_AFTER_MS   exit 1 after this long
//   IGNORE_TERM=1    ignore SIGTERM
//   GRANDCHILD=1     spawn `sleep 1000` (same process group), pid to
//                    $GRANDCHILD_PIDFILE
//   FLOOD_LINES=N    write N numbered ~100-byte lines to stdout, honouring
//                    backpressure; FLOOD_EXIT=1: then exit 0
//   HEALTH_DELAY_MS  delay /health answers; HEALTH_HANG=1: never answer
//   VERSION          shown by GET / (default: ./version.txt, else dev)
//   LOG_REQUESTS=1   print "METHOD URL" for every request
//   MEDUSA_WORKER_MODE=worker  play Medusa's worker: a "job loop" whose
//                    start and stop (ms since the epoch, pid, version)
//                    are appended to $JOB_LOG; it still answers /health
//                    on PORT, as Medusa's worker does
//   CRASH_IF_FILE=F  exit 4 at start when file F exists in the cwd (a
//                    release that breaks one member of a group)
// Endpoints: /health (200 OK, or 503 when toggled), /toggle-health,
// /crash (exit 3), /env?name=X, /heap, /pid, / ("hello VERSION pid PID").
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const v8 = require('node:v8');
const { spawn } = require('node:child_process');

const env = process.env;
const port = env.PORT ? Number(env.PORT) : 0;
// A release of the deploy tests says which it is in version.txt.
let fileVersion = null;
try { fileVersion = fs.readFileSync('version.txt', 'utf8').trim(); } catch (e) { }
const version = env.VERSION || fileVersion || 'dev';
let healthy = true;

if (env.EXIT_AT_START !== undefined) {
  process.exit(Number(env.EXIT_AT_START));
}
if (env.CRASH_IF_FILE && fs.existsSync(env.CRASH_IF_FILE)) {
  console.error(`${env.CRASH_IF_FILE} is here: crashing`);
  process.exit(4);
}
if (env.MEDUSA_WORKER_MODE === 'worker' && env.JOB_LOG) {
  // The interval of this process's job loop: its start now, its stop
  // when it is told to go (or dies: then no stop line, which a test sees).
  const say = (what) => fs.appendFileSync(env.JOB_LOG,
    `${what} ${Date.now()} ${process.pid} ${version}\n`);
  say('start');
  process.on('SIGTERM', () => { say('stop'); process.exit(0); });
}
console.log(`server start pid=${process.pid} port=${port}`);

if (env.IGNORE_TERM === '1') {
  process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
}
if (env.GRANDCHILD === '1') {
  const c = spawn('sleep', ['1000'], { stdio: 'ignore' });
  if (env.GRANDCHILD_PIDFILE) fs.writeFileSync(env.GRANDCHILD_PIDFILE, `${c.pid}\n`);
}
if (env.CRASH_AFTER_MS) {
  setTimeout(() => process.exit(1), Number(env.CRASH_AFTER_MS));
}

function flood(n, done) {
  const pad = 'x'.repeat(80);
  let i = 1;
  function more() {
    while (i <= n) {
      const line = `line ${String(i).padStart(6, '0')} ${pad}\n`;
      i++;
      if (!process.stdout.write(line)) {
        process.stdout.once('drain', more);
        return;
      }
    }
    done();
  }
  more();
}

const server = http.createServer((req, res) => {
  if (env.LOG_REQUESTS === '1') console.log(`${req.method} ${req.url}`);
  const url = new URL(req.url, 'http://x');
  switch (url.pathname) {
    case '/health':
      if (env.HEALTH_HANG === '1') return; // never answers
      setTimeout(() => {
        res.statusCode = healthy ? 200 : 503;
        res.end(healthy ? 'OK' : 'unhealthy');
      }, Number(env.HEALTH_DELAY_MS || 0));
      return;
    case '/toggle-health':
      healthy = !healthy;
      res.end(healthy ? 'healthy\n' : 'unhealthy\n');
      return;
    case '/crash':
      res.end('crashing\n', () => process.exit(3));
      return;
    case '/env': {
      const v = env[url.searchParams.get('name')];
      if (v === undefined) { res.statusCode = 404; res.end(); return; }
      res.end(v);
      return;
    }
    case '/heap':
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({
        node_options: env.NODE_OPTIONS || null,
        heap_size_limit: v8.getHeapStatistics().heap_size_limit,
      }));
      return;
    case '/pid':
      res.end(String(process.pid));
      return;
    default:
      res.end(`hello ${version} pid ${process.pid}\n`);
  }
});

function listen() {
  if (port) {
    server.listen(port, '127.0.0.1', () => console.log(`bound at ${Date.now()}`));
  }
}
setTimeout(listen, Number(env.BIND_DELAY_MS || 0));

if (env.IGNORE_TERM !== '1') {
  process.on('SIGTERM', () => {
    console.log('server stopping');
    server.close();
    process.exit(0);
  });
}

if (env.FLOOD_LINES) {
  flood(Number(env.FLOOD_LINES), () => {
    // Exit only once the last line has reached the pipe: a write that
    // returned true may still sit in Node's queue, and exit() drops it.
    if (env.FLOOD_EXIT === '1') process.stdout.write('', () => process.exit(0));
  });
} else if (!port && !env.CRASH_AFTER_MS) {
  setInterval(() => {}, 1 << 30); // stay up without a port
}
