package journal

import (
	"os"
	"path/filepath"
	"testing"
)

func TestBootID(t *testing.T) {
	t.Parallel()
	id := BootID()
	if _, err := os.Stat(bootIDPath); err == nil && id == "" {
		t.Errorf("BootID() = %q, but %s exists", id, bootIDPath)
	}
	if BootID() != id {
		t.Errorf("BootID() changed between calls")
	}
}

func TestReadBootID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct{ name, content, want string }{
		{"uuid", bootA + "\n", bootA},
		{"empty", "", ""},
		{"binary", "ab\x00cd\n", ""},
		{"too long", string(make([]byte, 100)), ""},
	}
	for _, tt := range tests {
		name := filepath.Join(dir, tt.name)
		if err := os.WriteFile(name, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := readBootID(name); got != tt.want {
			t.Errorf("readBootID(%q) = %q, want %q", tt.content, got, tt.want)
		}
	}
	if got := readBootID(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("readBootID(missing) = %q, want \"\"", got)
	}
}
