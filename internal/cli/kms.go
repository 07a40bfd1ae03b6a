package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/kms"
)

const kmsHelp = `Usage:
  millrace kms COMMAND [flags] [arguments]

Manages the local key service behind stream encryption
(StartStreamEncryption). Keys live in the KMS key file; a running server
picks up changes within a second.

Commands:
  create-key [--description TEXT]   create a key; prints its id and ARN
  list-keys                         list keys and aliases
  create-alias ALIAS KEY            point alias/NAME at a key
  enable-key KEY                    enable a key
  disable-key KEY                   disable a key: its streams' records can
                                    be neither written nor read
  rotate-key KEY                    add new key material; old versions keep
                                    decrypting what they encrypted
  seal                              seal the key file with the master key in
                                    MILLRACE_KMS_MASTER_KEY

KEY is a key id, key ARN, alias name (alias/NAME) or alias ARN.

Flags:
  --data-dir DIR       the server's data directory (key file DIR/kms-keys.json)
  --kms-key-file FILE  the key file, when the server sets kms-key-file
  --account ID         account of the keys (default 000000000000)
  --region REGION      region of the keys (default us-east-1)

A key file sealed with a master key needs MILLRACE_KMS_MASTER_KEY.
`

// kmsCmd runs "millrace kms ...".
func kmsCmd(args []string, stdout io.Writer, lookupEnv func(string) (string, bool)) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, kmsHelp)
		return nil
	}
	cmd := args[0]
	fs := flag.NewFlagSet("millrace kms "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var dataDir, keyFile, account, region, description string
	fs.StringVar(&dataDir, "data-dir", "", "")
	fs.StringVar(&keyFile, "kms-key-file", "", "")
	fs.StringVar(&account, "account", "000000000000", "")
	fs.StringVar(&region, "region", "us-east-1", "")
	if cmd == "create-key" {
		fs.StringVar(&description, "description", "", "")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	rest := fs.Args()
	want := map[string]int{"create-key": 0, "list-keys": 0, "create-alias": 2, "enable-key": 1, "disable-key": 1, "rotate-key": 1, "seal": 0}
	n, known := want[cmd]
	if !known {
		return usageError{fmt.Errorf("unknown kms command %q (known: create-key, list-keys, create-alias, enable-key, disable-key, rotate-key, seal)", cmd)}
	}
	if len(rest) != n {
		return usageError{fmt.Errorf("kms %s takes %d argument(s), got %d", cmd, n, len(rest))}
	}
	if keyFile == "" {
		if dataDir == "" {
			if d, ok := lookupEnv("MILLRACE_DATA_DIR"); ok && d != "" {
				dataDir = d
			} else {
				return usageError{errors.New("name the key file with --kms-key-file or the data directory with --data-dir")}
			}
		}
		keyFile = filepath.Join(dataDir, "kms-keys.json")
	}
	master, _ := lookupEnv("MILLRACE_KMS_MASTER_KEY")
	opts := kms.Options{Path: keyFile, DataDir: dataDir}
	if cmd != "seal" {
		opts.MasterKey = master
	}
	kr, err := kms.Open(opts)
	if err != nil {
		return err
	}
	switch cmd {
	case "create-key":
		k, err := kr.CreateKey(account, region, description)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%s\n", k.ID, k.ARN())
	case "list-keys":
		aliases := map[string][]string{}
		for _, a := range kr.Aliases("", "") {
			aliases[a.KeyID] = append(aliases[a.KeyID], a.Name)
		}
		fmt.Fprintf(stdout, "%-36s  %-8s  %-8s  %s\n", "KEY ID", "STATE", "VERSIONS", "ARN / ALIASES / CREATED")
		for _, k := range kr.Keys("", "") {
			state := "Enabled"
			if !k.Enabled {
				state = "Disabled"
			}
			fmt.Fprintf(stdout, "%-36s  %-8s  %-8d  %s  %s  %s\n", k.ID, state, len(k.Versions), k.ARN(),
				strings.Join(aliases[k.ID], ","), time.UnixMilli(k.CreatedAt).UTC().Format(time.RFC3339))
		}
	case "create-alias":
		if err := kr.CreateAlias(account, region, rest[0], rest[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s -> %s\n", kms.AliasARN(region, account, rest[0]), rest[1])
	case "enable-key", "disable-key":
		k, err := kr.SetEnabled(account, region, rest[0], cmd == "enable-key")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %sd\n", k.ARN(), strings.TrimSuffix(cmd, "-key"))
	case "rotate-key":
		k, err := kr.Rotate(account, region, rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s now at version %d\n", k.ARN(), len(k.Versions))
	case "seal":
		if master == "" {
			return usageError{errors.New("set MILLRACE_KMS_MASTER_KEY to the master key (e.g. from `openssl rand -base64 32`)")}
		}
		if err := kr.Seal(master); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s sealed; the server now needs MILLRACE_KMS_MASTER_KEY to start\n", keyFile)
	}
	return nil
}
