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
	switch cmd {
	case "serve":
		err = serve(ctx, rest, stdout, stderr, lookupEnv)
	case "version":
		err = version(rest, stdout)
	case "cert":
		err = cert(rest, stdout)
	case "policy":
		err = policyCmd(rest, stdout, lookupEnv)
	case "kms":
		err = kmsCmd(rest, stdout, lookupEnv)
	case "bench":
		err = runBench(ctx, rest, stdout, stderr)
	case "help":
		err = help(rest, stdout)
	default:
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

// help prints the help of the command named in args (serve by default).
func help(args []string, stdout io.Writer) error {
	if len(args) > 1 {
		return usageError{fmt.Errorf("help takes at most one command, got %q", args)}
	}
	if len(args) == 1 {
		switch args[0] {
		case "serve":
		case "version":
			fmt.Fprint(stdout, versionHelp)
			return nil
		case "cert":
			fmt.Fprint(stdout, certHelp)
			return nil
		case "bench":
			writeBenchHelp(stdout)
			return nil
		default:
			return usageError{fmt.Errorf("no help for unknown command %q", args[0])}
		}
	}
	writeServeHelp(stdout)
	return nil
}
