//go:build unix && !linux

package segment

// adviseHuge: no huge page hint here.
func adviseHuge([]byte) {}
