//go:build !unix

package bench

import (
	"os"
	"time"
)

// Without getrusage, CPU time and peak memory are not measured: they read
// as zero.

func selfCPU() (user, sys time.Duration)     { return 0, 0 }
func resetPeakRSS() bool                     { return false }
func selfPeakRSS() int64                     { return 0 }
func childPeakRSS(ps *os.ProcessState) int64 { return 0 }

type rssWatch struct{}

func watchPeakRSS(pid int) *rssWatch { return &rssWatch{} }
func (*rssWatch) stop() int64        { return 0 }
