package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "apigen:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("apigen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		modelPath = fs.String("model", "", "path to a botocore service-2.json or service-2.json.gz")
		service   = fs.String("service", "", "botocore service name, e.g. kinesis (used when -model is empty)")
		version   = fs.String("version", "", "API version, e.g. 2013-12-02 (used when -model is empty)")
		pkg       = fs.String("package", "", "Go package name of the generated file (required)")
		out       = fs.String("out", "", "output file (default: standard output)")
		drop      = fs.String("drop", "StreamId", "comma-separated member names to leave out of every shape")
		protoPkg  = fs.String("awsproto", "github.com/millrace/millrace/internal/awsproto", "import path of the awsproto package")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pkg == "" {
		return errors.New("-package is required")
	}
	path := *modelPath
	if path == "" {
		if *service == "" || *version == "" {
			return errors.New("give -model, or -service and -version")
		}
		var err error
		path, err = findBotocoreModel(*service, *version)
		if err != nil {
			return err
		}
	}
	m, err := loadModel(path)
	if err != nil {
		return err
	}
	dropped := map[string]bool{}
	for _, d := range strings.Split(*drop, ",") {
		if d = strings.TrimSpace(d); d != "" {
			dropped[d] = true
		}
	}
	src, err := generate(m, config{Package: *pkg, AWSProto: *protoPkg, Drop: dropped})
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = os.Stdout.Write(src)
		return err
	}
	return os.WriteFile(*out, src, 0o644)
}

// findBotocoreModel locates a service model inside the installed botocore
// package by asking python3 where botocore lives.
func findBotocoreModel(service, version string) (string, error) {
	cmd := exec.Command("python3", "-c", "import botocore,os;print(os.path.dirname(botocore.__file__))")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating botocore with python3: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	dir := filepath.Join(strings.TrimSpace(string(outb)), "data", service, version)
	for _, name := range []string{"service-2.json", "service-2.json.gz"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no service-2.json(.gz) in %s", dir)
}

func loadModel(path string) (*model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	var m model
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(m.Operations) == 0 || len(m.Shapes) == 0 {
		return nil, fmt.Errorf("%s: no operations or shapes", path)
	}
	return &m, nil
}
