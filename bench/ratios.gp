# bench/ratios.gp: bars of tend's advantage factor per figure (ratios.dat,
# written by bench/report.py) against PM2 (fork mode) and supervisord, on
# a log scale from 1×: a bar above the line favours tend, below it the peer.
# Run from the directory holding ratios.dat: gnuplot ratios.gp
set encoding utf8
set terminal svg size 960,540 dynamic enhanced font "sans,12" background "#ffffff"
set output "ratios.svg"
set datafile separator "\t"
set datafile missing "?"
stats "ratios.dat" using 2 nooutput name "A"
stats "ratios.dat" using 3 nooutput name "B"
lo = A_min < B_min ? A_min : B_min
hi = A_max > B_max ? A_max : B_max
set title "tend's advantage factor (peer ÷ tend; above 1×, tend is better)"
set logscale y 10
set yrange [(lo < 0.7 ? lo / 1.6 : 0.5) : (hi > 2 ? hi * 2.2 : 4)]
set ytics ("0.01×" 0.01, "0.02×" 0.02, "0.05×" 0.05, "0.1×" 0.1, "0.2×" 0.2, \
    "0.5×" 0.5, "1×" 1, "2×" 2, "5×" 5, "10×" 10, "20×" 20, "50×" 50, \
    "100×" 100, "200×" 200, "500×" 500, "1000×" 1000, "10^4×" 10000, "10^5×" 100000)
set grid ytics lc rgb "#dddddd"
set xtics rotate by -30 scale 0 nomirror
set xrange [-0.6:*]
set key top right
set style fill solid 0.85 noborder
set arrow from graph 0, first 1 to graph 1, first 1 nohead lc rgb "#444444" lw 1
w = 0.36
up(v) = v >= 1 ? v : NaN
down(v) = v < 1 ? v : NaN
plot "ratios.dat" using ($0 - w/2):2:($0 - w):($0):(1):2:xtic(1) \
        with boxxyerror lc rgb "#2b6cb0" title "vs PM2 (fork)", \
     "" using ($0 + w/2):3:($0):($0 + w):(1):3 \
        with boxxyerror lc rgb "#dd6b20" title "vs supervisord", \
     "" using ($0 - w/2):(up($2)):(sprintf("%.3g", $2)) with labels offset 0,0.6 font ",9" notitle, \
     "" using ($0 + w/2):(up($3)):(sprintf("%.3g", $3)) with labels offset 0,0.6 font ",9" notitle, \
     "" using ($0 - w/2):(down($2)):(sprintf("%.3g", $2)) with labels offset 0,-0.6 font ",9" notitle, \
     "" using ($0 + w/2):(down($3)):(sprintf("%.3g", $3)) with labels offset 0,-0.6 font ",9" notitle
