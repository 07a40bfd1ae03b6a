package lambda

// The sandbox settings: whether instances of functions with code (a
// bootstrap run here) are isolated as Lambda's execution environments
// are: a private /tmp of the function's EphemeralStorage, their code
// read-only, the server's data directory and other instances' code out
// of sight, and an unprivileged user (docs/lambda.md, "Sandbox").
const (
	// SandboxAuto isolates instances where the kernel allows it (the
	// server runs as root, or unprivileged user namespaces are allowed)
	// and logs once at start that they are not isolated where it does
	// not.
	SandboxAuto = "auto"
	// SandboxOn isolates every instance; the service does not start
	// when it cannot.
	SandboxOn = "on"
	// SandboxOff runs instances as the server's own user with its view
	// of the filesystem.
	SandboxOff = "off"
)

// defaultEphemeralMiB is the size of /tmp of a function that does not
// set EphemeralStorage: Lambda's default, 512 MB.
const defaultEphemeralMiB = 512

// ephemeralMiB is the size of f's /tmp in MiB.
func (f *function) ephemeralMiB() int32 {
	if f.EphemeralStorage == 0 {
		// Functions stored before EphemeralStorage was kept.
		return defaultEphemeralMiB
	}
	return f.EphemeralStorage
}
