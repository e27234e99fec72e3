// Package bench is rget's benchmark: it runs downloaders (rget itself
// through download.Run, and peers such as aria2c, curl, axel, wget2) over
// connection counts against an origin (package origin) or a real URL, and
// reports what they reach.
//
// The pieces:
//
//  1. Sweep: runs downloaders (Tool: a DownloadFunc called in this process,
//     which is how rget measures itself, or an external Command such as
//     aria2c, curl, axel, wget2; see Peer) over connection counts and
//     rounds, interleaved A B C A B C; times each run, measures its CPU and
//     peak RSS (getrusage and VmHWM for a DownloadFunc, the child's own for
//     a Command), checks the output's size and SHA-256, and returns a
//     Report: raw runs, medians with min-max, the ideal N × cap bounded by
//     the uncapped rate, as JSON, a text table with a bar chart
//     (WriteText), or an SVG chart (WriteSVG).
//
// bench imports download (to measure rget) and nothing else of rget; the
// origins it measures against come from package origin.
package bench
