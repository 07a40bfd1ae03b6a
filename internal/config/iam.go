package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// IAM is the identity section of the config file: accounts with root
// credentials, users with access keys and policies, and groups whose
// policies their members inherit. It can only be given in a config file.
type IAM struct {
	Accounts []Account `toml:"accounts" yaml:"accounts" json:"accounts,omitempty"`
	Users    []User    `toml:"users" yaml:"users" json:"users,omitempty"`
	Groups   []Group   `toml:"groups" yaml:"groups" json:"groups,omitempty"`
	Roles    []Role    `toml:"roles" yaml:"roles" json:"roles,omitempty"`
}

// Account is an account's root identity: its access keys act as
// arn:aws:iam::<id>:root, which identity policies do not restrict.
type Account struct {
	ID         string      `toml:"id" yaml:"id" json:"id"`
	AccessKeys []AccessKey `toml:"access-keys" yaml:"access-keys" json:"access-keys,omitempty"`
}

// User is an IAM user.
type User struct {
	Name string `toml:"name" yaml:"name" json:"name"`
	// Account is the 12-digit account id; empty means the server's
	// account-id.
	Account string `toml:"account" yaml:"account" json:"account,omitempty"`
	// Path is the IAM path, "/" by default (arn:aws:iam::acct:user/path/name).
	Path string `toml:"path" yaml:"path" json:"path,omitempty"`
	// ID is the unique user id (aws:userid, principalId); derived from the
	// account and name when empty.
	ID         string         `toml:"id" yaml:"id" json:"id,omitempty"`
	Groups     []string       `toml:"groups" yaml:"groups" json:"groups,omitempty"`
	AccessKeys []AccessKey    `toml:"access-keys" yaml:"access-keys" json:"access-keys,omitempty"`
	Policies   []PolicyConfig `toml:"policies" yaml:"policies" json:"policies,omitempty"`
}

// Group is an IAM group; its policies apply to every member.
type Group struct {
	Name     string         `toml:"name" yaml:"name" json:"name"`
	Account  string         `toml:"account" yaml:"account" json:"account,omitempty"`
	Policies []PolicyConfig `toml:"policies" yaml:"policies" json:"policies,omitempty"`
}

// Role is an IAM role: an identity with policies but no access keys,
// which the services named by its trust policy act as on the behalf of
// the resources that name it (a delivery stream's RoleARN).
type Role struct {
	Name    string `toml:"name" yaml:"name" json:"name"`
	Account string `toml:"account" yaml:"account" json:"account,omitempty"`
	Path    string `toml:"path" yaml:"path" json:"path,omitempty"`
	// ID is the unique role id (AROA...); derived when empty.
	ID string `toml:"id" yaml:"id" json:"id,omitempty"`
	// AssumeRolePolicy is the trust policy: which principals may assume
	// the role, written as a JSON string or a table/mapping.
	AssumeRolePolicy any            `toml:"assume-role-policy" yaml:"assume-role-policy" json:"assume-role-policy"`
	Policies         []PolicyConfig `toml:"policies" yaml:"policies" json:"policies,omitempty"`
}

// TrustPolicy returns the role's trust policy as JSON text.
func (r Role) TrustPolicy() (string, error) {
	if r.AssumeRolePolicy == nil {
		return "", fmt.Errorf("role %s has no assume-role-policy", r.Name)
	}
	return PolicyConfig{Name: "assume-role-policy", Document: r.AssumeRolePolicy}.JSON()
}

// AccessKey is a pair of credentials; SessionToken, when set, must be sent
// with every request signed by the key (X-Amz-Security-Token), as for
// temporary credentials.
type AccessKey struct {
	ID           string `toml:"id" yaml:"id" json:"id"`
	Secret       string `toml:"secret" yaml:"secret" json:"secret"`
	SessionToken string `toml:"session-token" yaml:"session-token" json:"session-token,omitempty"`
}

// PolicyConfig is a named identity-based policy. Document is the policy
// JSON, written either as a string or as a table/mapping.
type PolicyConfig struct {
	Name     string `toml:"name" yaml:"name" json:"name"`
	Document any    `toml:"document" yaml:"document" json:"document"`
}

// JSON returns the policy document as JSON text.
func (p PolicyConfig) JSON() (string, error) {
	switch d := p.Document.(type) {
	case string:
		return d, nil
	case nil:
		return "", fmt.Errorf("policy %q has no document", p.Name)
	default:
		b, err := json.Marshal(normalizeYAML(d))
		if err != nil {
			return "", fmt.Errorf("policy %q: %w", p.Name, err)
		}
		return string(b), nil
	}
}

// normalizeYAML turns map[any]any (older YAML decoders) into
// map[string]any so that the document marshals as JSON.
func normalizeYAML(v any) any {
	switch v := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = normalizeYAML(x)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = normalizeYAML(x)
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalizeYAML(x)
		}
		return out
	default:
		return v
	}
}

// iamKeys are the config-file keys of the IAM section.
var iamKeys = map[string]bool{"accounts": true, "users": true, "groups": true, "roles": true}

// decodeIAM reads the IAM section of a config file.
func decodeIAM(data []byte, format string) (IAM, error) {
	var out IAM
	var err error
	switch format {
	case ".toml":
		_, err = toml.NewDecoder(bytes.NewReader(data)).Decode(&out)
	default:
		err = yaml.Unmarshal(data, &out)
	}
	return out, err
}

// Declared reports whether the section declares any identity.
func (i *IAM) Declared() bool { return i != nil && (len(i.Users) > 0 || len(i.Accounts) > 0) }

// Auth modes.
const (
	AuthAuto = "auto"
	AuthOn   = "on"
	AuthOff  = "off"
)

// AuthEnabled reports whether requests must be signed with declared
// credentials and are checked against policies. "auto" turns it on when
// the config file declares users or accounts and the data is on disk.
func (c *Config) AuthEnabled() bool {
	switch c.Auth {
	case AuthOn:
		return true
	case AuthOff:
		return false
	default:
		return c.IAM.Declared() && !c.InMemory
	}
}

// AllowedPrefixes parses AllowCIDRs, the plain listener's allow-list; an
// empty list allows everyone.
func (c *Config) AllowedPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes(c.AllowCIDRs)
}

// TLSAllowedPrefixes is the TLS listener's allow-list: TLSAllowCIDRs, or
// AllowCIDRs when it is empty.
func (c *Config) TLSAllowedPrefixes() ([]netip.Prefix, error) {
	if strings.TrimSpace(c.TLSAllowCIDRs) == "" {
		return c.AllowedPrefixes()
	}
	return parsePrefixes(c.TLSAllowCIDRs)
}

// parsePrefixes parses a comma-separated list of CIDR blocks and
// addresses.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR block (e.g. 10.0.0.0/8) or an IP address", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// validateSecurity checks the security settings and the IAM section's
// structure (policy documents are parsed when the server starts).
func (c *Config) validateSecurity(bad func(name, format string, args ...any)) {
	switch c.Auth {
	case AuthAuto, AuthOn, AuthOff:
	default:
		bad("auth", "%q must be auto, on or off", c.Auth)
	}
	if c.Auth == AuthOn && !c.IAM.Declared() {
		bad("auth", "is on but the config file declares no users or accounts to sign requests with")
	}
	if _, err := c.AllowedPrefixes(); err != nil {
		bad("allow-cidrs", "%v", err)
	}
	if _, err := parsePrefixes(c.TLSAllowCIDRs); err != nil {
		bad("tls-allow-cidrs", "%v", err)
	}
	if c.AuditLogMaxBytes < 0 {
		bad("audit-log-max-bytes", "%d must not be negative", c.AuditLogMaxBytes)
	}
	if c.AuditLogMaxFiles < 1 {
		bad("audit-log-max-files", "%d must be at least 1", c.AuditLogMaxFiles)
	}
	keys := map[string]string{}
	checkKeys := func(owner string, ks []AccessKey) {
		for _, k := range ks {
			switch {
			case k.ID == "" || k.Secret == "":
				bad("users", "%s has an access key without id or secret", owner)
			case keys[k.ID] != "":
				bad("users", "access key id %s is declared for both %s and %s", k.ID, keys[k.ID], owner)
			default:
				keys[k.ID] = owner
			}
		}
	}
	account := func(a string) string {
		if a == "" {
			return c.AccountID
		}
		return a
	}
	iam := c.IAM
	if iam == nil {
		iam = &IAM{}
	}
	for _, a := range iam.Accounts {
		if !accountIDPattern.MatchString(a.ID) {
			bad("accounts", "%q must be exactly 12 digits", a.ID)
		}
		checkKeys("account "+a.ID, a.AccessKeys)
	}
	groups := map[string]bool{}
	for _, g := range iam.Groups {
		if g.Name == "" {
			bad("groups", "a group has no name")
		}
		if a := account(g.Account); !accountIDPattern.MatchString(a) {
			bad("groups", "group %s: account %q must be exactly 12 digits", g.Name, a)
		}
		groups[account(g.Account)+"/"+g.Name] = true
		for _, p := range g.Policies {
			if _, err := p.JSON(); err != nil {
				bad("groups", "group %s: %v", g.Name, err)
			}
		}
	}
	// named checks what users and roles share: a name, a 12-digit account,
	// no second declaration in that account and a path of /.../; ok is
	// false when there is no name to check the rest by.
	named := func(key, kind, name, acct, path string, seen map[string]bool) (a string, ok bool) {
		if name == "" {
			bad(key, "a %s has no name", kind)
			return "", false
		}
		a = account(acct)
		if !accountIDPattern.MatchString(a) {
			bad(key, "%s %s: account %q must be exactly 12 digits", kind, name, a)
		}
		if seen[a+"/"+name] {
			bad(key, "%s %s is declared twice in account %s", kind, name, a)
		}
		seen[a+"/"+name] = true
		if path != "" && (!strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/")) {
			bad(key, "%s %s: path %q must begin and end with /", kind, name, path)
		}
		return a, true
	}
	users := map[string]bool{}
	for _, u := range iam.Users {
		a, ok := named("users", "user", u.Name, u.Account, u.Path, users)
		if !ok {
			continue
		}
		for _, g := range u.Groups {
			if !groups[a+"/"+g] {
				bad("users", "user %s is in group %s, which account %s does not declare", u.Name, g, a)
			}
		}
		for _, p := range u.Policies {
			if _, err := p.JSON(); err != nil {
				bad("users", "user %s: %v", u.Name, err)
			}
		}
		checkKeys("user "+u.Name, u.AccessKeys)
	}
	roles := map[string]bool{}
	for _, r := range iam.Roles {
		_, ok := named("roles", "role", r.Name, r.Account, r.Path, roles)
		if !ok {
			continue
		}
		if _, err := r.TrustPolicy(); err != nil {
			bad("roles", "%v", err)
		}
		for _, p := range r.Policies {
			if _, err := p.JSON(); err != nil {
				bad("roles", "role %s: %v", r.Name, err)
			}
		}
	}
}
