// Package cli is the millrace command line: it parses the command and its
// flags, loads the configuration (defaults, config file, environment,
// flags), sets up logging and runs the server until SIGINT or SIGTERM.
// Each command lives in its own file.
package cli
