package iam

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"

	"github.com/millrace/millrace/internal/config"
)

// Identity is who an access key acts as, with its policies.
type Identity struct {
	Principal Principal
	// Policies are the identity-based policies: the user's own, then its
	// groups'.
	Policies []NamedPolicy
}

// Key is a declared access key.
type Key struct {
	ID, Secret, SessionToken string
	Identity                 *Identity
}

// Directory holds the identities of the config file, by access key id and
// by user.
type Directory struct {
	keys  map[string]*Key
	users map[string]*Identity // "account/name" and "name" (default account)
	roles map[string]*Role     // by ARN
}

// NewDirectory builds a Directory from the config, parsing every policy;
// a malformed policy is an error naming it.
func NewDirectory(cfg config.Config) (*Directory, error) {
	d := &Directory{keys: map[string]*Key{}, users: map[string]*Identity{}, roles: map[string]*Role{}}
	sec := cfg.IAM
	if sec == nil {
		return d, nil
	}
	account := func(a string) string {
		if a == "" {
			return cfg.AccountID
		}
		return a
	}
	parse := func(owner string, ps []config.PolicyConfig) ([]NamedPolicy, error) {
		var out []NamedPolicy
		for _, pc := range ps {
			doc, err := pc.JSON()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", owner, err)
			}
			p, err := Parse(doc, IdentityPolicy)
			if err != nil {
				return nil, fmt.Errorf("%s policy %q: %w", owner, pc.Name, err)
			}
			out = append(out, NamedPolicy{Name: owner + "/" + pc.Name, Policy: p})
		}
		return out, nil
	}
	groups := map[string][]NamedPolicy{}
	for _, g := range sec.Groups {
		ps, err := parse("group/"+g.Name, g.Policies)
		if err != nil {
			return nil, err
		}
		groups[account(g.Account)+"/"+g.Name] = ps
	}
	addKeys := func(id *Identity, ks []config.AccessKey) error {
		for _, k := range ks {
			if _, dup := d.keys[k.ID]; dup {
				return fmt.Errorf("access key id %s is declared twice", k.ID)
			}
			d.keys[k.ID] = &Key{ID: k.ID, Secret: k.Secret, SessionToken: k.SessionToken, Identity: id}
		}
		return nil
	}
	for _, a := range sec.Accounts {
		id := &Identity{Principal: Principal{Type: "Root", Account: a.ID, ARN: "arn:aws:iam::" + a.ID + ":root", UserID: a.ID, Partition: "aws"}}
		if err := addKeys(id, a.AccessKeys); err != nil {
			return nil, err
		}
	}
	for _, u := range sec.Users {
		acct := account(u.Account)
		path := u.Path
		if path == "" {
			path = "/"
		}
		uid := u.ID
		if uid == "" {
			uid = userID(acct, u.Name)
		}
		ps, err := parse("user/"+u.Name, u.Policies)
		if err != nil {
			return nil, err
		}
		for _, g := range u.Groups {
			gp, ok := groups[acct+"/"+g]
			if !ok {
				return nil, fmt.Errorf("user %s is in group %s, which account %s does not declare", u.Name, g, acct)
			}
			ps = append(ps, gp...)
		}
		id := &Identity{
			Principal: Principal{Type: "IAMUser", Account: acct, UserName: u.Name, UserID: uid, Partition: "aws",
				ARN: "arn:aws:iam::" + acct + ":user" + path + u.Name},
			Policies: ps,
		}
		d.users[acct+"/"+u.Name] = id
		if acct == cfg.AccountID {
			d.users[u.Name] = id
		}
		if err := addKeys(id, u.AccessKeys); err != nil {
			return nil, err
		}
	}
	for _, rc := range sec.Roles {
		acct := account(rc.Account)
		path := rc.Path
		if path == "" {
			path = "/"
		}
		r := &Role{Name: rc.Name, Account: acct, ID: rc.ID, ARN: "arn:aws:iam::" + acct + ":role" + path + rc.Name}
		if r.ID == "" {
			r.ID = roleID(acct, rc.Name)
		}
		doc, err := rc.TrustPolicy()
		if err != nil {
			return nil, err
		}
		if r.Trust, err = parseTrustPolicy(doc); err != nil {
			return nil, fmt.Errorf("role/%s assume-role-policy: %w", rc.Name, err)
		}
		if r.Policies, err = parse("role/"+rc.Name, rc.Policies); err != nil {
			return nil, err
		}
		if _, dup := d.roles[r.ARN]; dup {
			return nil, fmt.Errorf("role %s is declared twice", r.ARN)
		}
		d.roles[r.ARN] = r
	}
	return d, nil
}

// userID derives a stable unique id in AWS's form (AIDA + 17 characters)
// for a user declared without one.
func userID(account, name string) string {
	sum := sha256.Sum256([]byte(account + "/" + name))
	return "AIDA" + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

// Key returns the declared access key with this id.
func (d *Directory) Key(id string) (*Key, bool) {
	k, ok := d.keys[id]
	return k, ok
}

// User finds a user by name (in the default account) or by
// "account/name", or an account root by "account" / its root ARN.
func (d *Directory) User(name string) (*Identity, bool) {
	if id, ok := d.users[name]; ok {
		return id, true
	}
	for _, k := range d.keys {
		p := k.Identity.Principal
		if p.ARN == name || (p.Type == "Root" && p.Account == name) {
			return k.Identity, true
		}
		if p.Type == "IAMUser" && p.ARN == name {
			return k.Identity, true
		}
	}
	return nil, false
}

// Len is the number of declared access keys.
func (d *Directory) Len() int { return len(d.keys) }
