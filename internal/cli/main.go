package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line or the configuration is wrong
)

// Main runs the command line args (args[0] is the program name) and returns
// the process exit code. SIGINT and SIGTERM stop the server gracefully; a
// second signal during the stop kills the process at once.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore the default action: the next signal kills
	}()
	return run(ctx, args, stdout, stderr, os.LookupEnv)
}

// stdin is the input of the commands that read one (put).
var stdin io.Reader = os.Stdin

// usageError is a mistake on the command line or in the configuration.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run is Main without the process: ctx ends the server, lookupEnv reads the
// environment.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	if len(args) > 0 {
		args = args[1:]
	}
	cmd, rest := "serve", args
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, rest = args[0], args[1:]
	}

	var err error
	if c, ok := lookupCommand(cmd); ok {
		err = c.run(ctx, rest, stdout, stderr, lookupEnv)
	} else {
		err = usageError{fmt.Errorf("unknown command %q", cmd)}
	}

	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errDenied):
		return exitError
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "millrace: %v\nRun 'millrace --help' for usage.\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "millrace: %v\n", err)
		return exitError
	}
}

// command is one of millrace's commands.
type command struct {
	name string
	// usage follows "millrace <name>" in the command list, e.g. "[flags]".
	usage string
	// summary is the command's one line in the command list.
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) error
	// help prints the command's own help.
	help func(w io.Writer)
}

// commands lists every command, in the order help shows them. run
// dispatches through it, so a command cannot be missing from the list.
var commands []command

func init() {
	text := func(s string) func(io.Writer) { return func(w io.Writer) { io.WriteString(w, s) } }
	commands = []command{
		{"serve", "[flags]", "start the server (serve is the default command)",
			serve, writeServeHelp},
		{"version", "", "print the version",
			func(_ context.Context, args []string, stdout, _ io.Writer, _ func(string) (string, bool)) error {
				return version(args, stdout)
			}, text(versionHelp)},
		{"cert", "[flags]", "write a self-signed TLS certificate and key",
			func(_ context.Context, args []string, stdout, _ io.Writer, _ func(string) (string, bool)) error {
				return cert(args, stdout)
			}, text(certHelp)},
		{"policy", "check [flags]", "explain whether the config file's policies allow a request",
			func(_ context.Context, args []string, stdout, _ io.Writer, lookupEnv func(string) (string, bool)) error {
				return policyCmd(args, stdout, lookupEnv)
			}, text(policyHelp)},
		{"kms", "COMMAND [flags]", "manage the local key service behind stream encryption",
			func(_ context.Context, args []string, stdout, _ io.Writer, lookupEnv func(string) (string, bool)) error {
				return kmsCmd(args, stdout, lookupEnv)
			}, text(kmsHelp)},
		{"bench", "[flags]", "benchmark a Kinesis endpoint",
			func(ctx context.Context, args []string, stdout, stderr io.Writer, _ func(string) (string, bool)) error {
				return runBench(ctx, args, stdout, stderr)
			}, writeBenchHelp},
		{"health", "[--url URL]", "check that a server answers GET /health (exit 0 or 1)",
			func(ctx context.Context, args []string, stdout, _ io.Writer, lookupEnv func(string) (string, bool)) error {
				return health(ctx, args, stdout, lookupEnv)
			}, text(healthHelp)},
		{"tail", "STREAM [flags]", "print a stream's records as they arrive, from every shard",
			func(ctx context.Context, args []string, stdout, _ io.Writer, lookupEnv func(string) (string, bool)) error {
				return runTail(ctx, args, stdout, lookupEnv)
			}, writeTailHelp},
		{"put", "STREAM [flags]", "write each line of stdin or a file to a stream as a record",
			func(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) error {
				return runPut(ctx, args, stdin, stdout, stderr, lookupEnv)
			}, writePutHelp},
		{"streams", "[flags]", "list streams with their shards, consumers and measured write rates",
			func(ctx context.Context, args []string, stdout, _ io.Writer, lookupEnv func(string) (string, bool)) error {
				return runStreams(ctx, args, stdout, lookupEnv)
			}, writeStreamsHelp},
		{"sql", "--stream STREAM --columns COLUMNS [flags] QUERY", "run a continuous SQL query over a stream and print results as windows close",
			func(ctx context.Context, args []string, stdout, _ io.Writer, lookupEnv func(string) (string, bool)) error {
				return runSQL(ctx, args, stdout, lookupEnv)
			}, writeSQLHelp},
		{"agent", "--config agent.json [flags]", "ship log files to Kinesis, configured as the Kinesis Agent",
			func(ctx context.Context, args []string, stdout, stderr io.Writer, _ func(string) (string, bool)) error {
				return runAgent(ctx, args, stdout, stderr)
			}, writeAgentHelp},
		{"cluster", "status|remove-node NODE [flags]", "show a cluster's nodes and replicas, or remove a node gone for good",
			func(ctx context.Context, args []string, stdout, _ io.Writer, lookupEnv func(string) (string, bool)) error {
				return clusterCmd(ctx, args, stdout, lookupEnv)
			}, text(clusterHelp)},
		{"backup", "--out FILE [flags]", "write a backup of a server's streams, records and catalog",
			func(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) error {
				return runBackup(ctx, args, stdout, stderr, lookupEnv)
			}, text(backupHelp)},
		{"restore", "--from FILE --data-dir DIR", "restore a backup into a new single-node data directory",
			func(ctx context.Context, args []string, stdout, stderr io.Writer, _ func(string) (string, bool)) error {
				return runRestore(ctx, args, stdout, stderr)
			}, text(restoreHelp)},
		{"help", "[command]", "show the help of a command (serve by default)",
			func(_ context.Context, args []string, stdout, _ io.Writer, _ func(string) (string, bool)) error {
				return help(args, stdout)
			}, writeServeHelp},
	}
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// writeCommandList prints one line per command.
func writeCommandList(w io.Writer) {
	width := 0
	lines := make([]string, len(commands))
	for i, c := range commands {
		lines[i] = "millrace " + c.name
		if c.name == "serve" {
			lines[i] = "millrace [serve]"
		}
		if c.usage != "" {
			lines[i] += " " + c.usage
		}
		width = max(width, len(lines[i]))
	}
	for i, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, lines[i], c.summary)
	}
}

// help prints the help of the command named in args (serve by default).
func help(args []string, stdout io.Writer) error {
	if len(args) > 1 {
		return usageError{fmt.Errorf("help takes at most one command, got %q", args)}
	}
	if len(args) == 1 {
		c, ok := lookupCommand(args[0])
		if !ok {
			return usageError{fmt.Errorf("no help for unknown command %q", args[0])}
		}
		c.help(stdout)
		return nil
	}
	writeServeHelp(stdout)
	return nil
}
