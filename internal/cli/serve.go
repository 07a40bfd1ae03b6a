package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
)

// serve runs the server until ctx is done.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) error {
	fs := flag.NewFlagSet("millrace serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, help by writeServeHelp
	flags := config.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeServeHelp(stdout)
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (flags are written --name value or --name=value)", fs.Arg(0))}
	}
	cfg, err := flags.Load(lookupEnv)
	if err != nil {
		return usageError{err}
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err := server.Run(ctx, cfg, logger); err != nil {
		return err
	}
	return nil
}

const serveIntro = `Millrace is a server that speaks the AWS Kinesis Data Streams API: point an
AWS SDK, the AWS CLI or boto3 at its endpoint and it behaves like Kinesis,
with data kept durably in an embedded store.

Usage:
`

// serveHelpBody follows the command list in the help.
const serveHelpBody = `
Run 'millrace help COMMAND' (or 'millrace COMMAND --help') for a
command's own help.

The server logs one line when it is ready (its endpoint and data location),
answers GET /health with 200 {"status":"ok"} once ready ('millrace health'
checks it, for container health checks without curl), and stops
gracefully on SIGINT or SIGTERM: requests in flight finish (up to
--shutdown-timeout), then the storage is closed cleanly. With a TLS
listener, SIGHUP reloads its certificate and key (--tls-cert, --tls-key).

Every setting can be given as a flag, an environment variable or a key in
the config file. Precedence: flag > environment > config file > default.
Durations are Go durations (100ms, 30s, 5m); byte sizes take KiB, MiB or
GiB suffixes.

Flags:
`

// writeServeHelp prints the command's help: every flag with its type,
// meaning, environment variable and default, from the settings table.
func writeServeHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString(serveIntro)
	writeCommandList(&b)
	b.WriteString(serveHelpBody)
	item := func(flagName, typ, help, env, def string) {
		fmt.Fprintf(&b, "  --%s %s\n", flagName, typ)
		fmt.Fprintf(&b, "        %s\n", help)
		fmt.Fprintf(&b, "        env %s", env)
		if def != "" {
			fmt.Fprintf(&b, ", default %s", def)
		}
		b.WriteString("\n")
	}
	item(config.ConfigFlag, "path",
		"Config file (TOML or YAML, by extension: .toml, .yaml, .yml); keys are the flag names, e.g. data-dir = \"/var/lib/millrace\".",
		config.ConfigEnv, "")
	for _, s := range config.Settings() {
		typ := s.Type()
		if s.IsBool() {
			typ = "" // a switch: --in-memory or --in-memory=false
		}
		item(s.Name, typ, s.Help, s.Env(), s.Default())
	}
	b.WriteString("  -h, --help\n        Show this help.\n")
	io.WriteString(w, strings.ReplaceAll(b.String(), " \n", "\n"))
}

// newLogger builds the process logger on w. level and format were checked
// by config.Validate.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
