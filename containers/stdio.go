package containers

import (
	"os"
	"sync"
)

var (
	devNullOnce sync.Once
	devNullFile *os.File
)

// devNull is a descriptor of /dev/null for commands that get no input.
func devNull() uintptr {
	devNullOnce.Do(func() {
		devNullFile, _ = os.Open(os.DevNull)
	})
	if devNullFile == nil {
		return 2
	}
	return devNullFile.Fd()
}

// progressFd is where output of commands run for the tool's own purposes
// goes: the progress stream when it is a file (stderr), else /dev/null.
func progressFd(m *Manager) uintptr {
	if f, ok := m.Progress.(*os.File); ok {
		return f.Fd()
	}
	return devNull()
}
