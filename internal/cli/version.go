package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/millrace/millrace/internal/cli.Version=v1.2.3".
// When empty, the module version and VCS revision recorded by the Go
// toolchain are used.
var Version = ""

const versionHelp = `Usage: millrace version

Prints the version, the source revision and the Go version of this binary.
`

func version(args []string, stdout io.Writer) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprint(stdout, versionHelp)
		return nil
	}
	if len(args) > 0 {
		return usageError{fmt.Errorf("version takes no arguments, got %q", args)}
	}
	fmt.Fprintln(stdout, versionString())
	return nil
}

func versionString() string {
	v, rev, modified := Version, "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	out := "millrace " + v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += " commit " + rev
		if modified {
			out += " (modified)"
		}
	}
	return fmt.Sprintf("%s %s %s/%s", out, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
