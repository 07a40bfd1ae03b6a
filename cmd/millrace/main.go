// Command millrace serves the AWS Kinesis Data Streams API. Run
// "millrace --help" for its commands and settings.
package main

import (
	"os"

	"github.com/millrace/millrace/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args, os.Stdout, os.Stderr))
}
