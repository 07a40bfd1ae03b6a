package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// Flags holds the command-line flags registered by AddFlags. After the flag
// set is parsed, Load combines them with the other sources.
type Flags struct {
	configPath string
	configSet  bool
	set        map[string]string // settings given on the command line, raw
}

// AddFlags registers --config and one flag per setting on fs. Values are
// checked as they are parsed, so a malformed flag fails fs.Parse with a
// message naming it.
func AddFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{set: map[string]string{}}
	fs.Func(ConfigFlag, "Config file (TOML or YAML, chosen by extension: .toml, .yaml, .yml).", func(v string) error {
		f.configPath, f.configSet = v, true
		return nil
	})
	for _, s := range settings {
		fs.Var(&flagValue{s: s, f: f}, s.Name, s.Help)
	}
	return f
}

// flagValue is one setting's flag. It keeps the raw text so that Load can
// apply flags last, above the config file and the environment.
type flagValue struct {
	s Setting
	f *Flags
}

func (v *flagValue) String() string {
	if v == nil || v.f == nil {
		return ""
	}
	if raw, ok := v.f.set[v.s.Name]; ok {
		return raw
	}
	return v.s.Default()
}

func (v *flagValue) Set(raw string) error {
	var scratch Config
	if err := v.s.Set(&scratch, raw); err != nil {
		return err
	}
	v.f.set[v.s.Name] = raw
	return nil
}

func (v *flagValue) IsBoolFlag() bool { return v.s.IsBool() }

// Load builds the configuration from, in increasing order of precedence:
// defaults, the config file (--config, else MILLRACE_CONFIG), MILLRACE_*
// environment variables (an empty variable counts as unset) and the flags
// given on the command line. lookupEnv is os.LookupEnv outside tests. The
// result is validated.
func (f *Flags) Load(lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	path := f.configPath
	if !f.configSet {
		path, _ = lookupEnv(ConfigEnv)
	}
	if path != "" {
		if err := LoadFile(path, &cfg); err != nil {
			return Config{}, err
		}
	}
	for _, s := range settings {
		v, ok := lookupEnv(s.Env())
		if !ok || v == "" {
			continue
		}
		if err := s.Set(&cfg, v); err != nil {
			return Config{}, fmt.Errorf("environment variable %s: %w", s.Env(), err)
		}
	}
	for _, s := range settings {
		if raw, ok := f.set[s.Name]; ok {
			if err := s.Set(&cfg, raw); err != nil {
				return Config{}, fmt.Errorf("flag %s: %w", s.Flag(), err)
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// LoadFile applies the settings in a TOML (.toml) or YAML (.yaml, .yml)
// file to cfg. Keys are setting names ("data-dir"); unknown keys are an
// error, so a misspelt setting never goes unnoticed.
func LoadFile(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var values map[string]any
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".toml":
		_, err = toml.NewDecoder(bytes.NewReader(data)).Decode(&values)
	case ".yaml", ".yml":
		err = yaml.Unmarshal(data, &values)
	default:
		return fmt.Errorf("config file %s: unknown format %q; use .toml, .yaml or .yml", path, ext)
	}
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report problems in a stable order
	var errs []error
	for _, k := range keys {
		if iamKeys[k] {
			continue
		}
		s, ok := Lookup(k)
		if !ok {
			errs = append(errs, unknownKey(k))
			continue
		}
		raw, err := fileValue(s, values[k])
		if err == nil {
			err = s.Set(cfg, raw)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	if values["accounts"] != nil || values["users"] != nil || values["groups"] != nil || values["roles"] != nil {
		iam, err := decodeIAM(data, strings.ToLower(filepath.Ext(path)))
		if err != nil {
			errs = append(errs, fmt.Errorf("accounts, users, groups, roles: %w", err))
		}
		cfg.IAM = &iam
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config file %s:\n%w", path, err)
	}
	return nil
}

func unknownKey(k string) error {
	norm := strings.ToLower(strings.NewReplacer("_", "-", " ", "-").Replace(k))
	if s, ok := Lookup(norm); ok {
		return fmt.Errorf("unknown key %q; did you mean %q?", k, s.Name)
	}
	names := make([]string, len(settings))
	for i, s := range settings {
		names[i] = s.Name
	}
	return fmt.Errorf("unknown key %q; known keys: %s", k, strings.Join(names, ", "))
}

// fileValue turns a decoded TOML or YAML value into the text Setting.Set
// parses, checking that its type suits the setting.
func fileValue(s Setting, v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", errors.New("has no value")
	case string:
		return v, nil
	case bool:
		if s.kind == kindBool {
			return strconv.FormatBool(v), nil
		}
	case int, int64, uint64:
		n := fmt.Sprint(v)
		switch s.kind {
		case kindInt, kindBytes, kindFloat:
			return n, nil
		case kindString:
			// YAML reads an unquoted 000000000000 as the number 0: refuse
			// rather than guess which digits were meant.
			return "", fmt.Errorf("must be a string, not the number %s; quote it", n)
		case kindDuration:
			if n == "0" {
				return "0s", nil
			}
			return "", fmt.Errorf("%s has no unit; write a duration string such as \"100ms\" or \"5m\"", n)
		}
	case float64:
		if s.kind == kindFloat {
			return strconv.FormatFloat(v, 'g', -1, 64), nil
		}
		if (s.kind == kindInt || s.kind == kindBytes) && v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return strconv.FormatInt(int64(v), 10), nil
		}
	}
	return "", fmt.Errorf("must be %s, not %T %v", s.kind.describe(), v, v)
}
