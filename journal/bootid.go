package journal

import (
	"os"
	"strings"
)

// bootIDPath is where Linux publishes a random id chosen at each boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// BootID returns the kernel's boot id, or "" where it is unavailable (not
// Linux, /proc not mounted). Cheap records are trusted only by a reader with
// the same, non-empty boot id: it proves no reboot (and so no loss of the
// page cache) happened since they were written.
func BootID() string {
	return readBootID(bootIDPath)
}

func readBootID(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(string(b))
	if len(id) > 64 {
		return "" // not a boot id
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return ""
		}
	}
	return id
}
