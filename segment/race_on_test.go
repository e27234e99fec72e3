//go:build race

package segment

// raceEnabled: the race detector slows the simulator tenfold.
const raceEnabled = true
