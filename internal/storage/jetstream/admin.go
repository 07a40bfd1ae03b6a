package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// SystemUser is the user of the embedded server's system account, which
// ServerOptions.SystemPassword opens: cluster administration (removing a
// server, the servers' JetStream reports) is only answered there.
const SystemUser = "system"

// appUser is the user every connection without credentials becomes on an
// embedded server that has a system user: the global account, where the
// engine's streams and bucket live, as when the server has no users.
const appUser = "millrace"

// NodeStatus is one JetStream server of the cluster as the meta group sees
// it.
type NodeStatus struct {
	Name string `json:"name"`
	// Leader is true for the meta group's leader.
	Leader bool `json:"leader,omitempty"`
	// Current is true when the server is caught up with the meta group;
	// Offline when it has not been heard from lately.
	Current bool `json:"current"`
	Offline bool `json:"offline,omitempty"`
	// Answered is true when the server answered this status request
	// itself (it runs).
	Answered bool `json:"answered"`
	// Lag is how many meta operations the server is behind.
	Lag uint64 `json:"lag,omitempty"`
	// Silent is how long ago the meta leader last heard from the server
	// (0 for the leader itself, and for a server it never heard from).
	Silent time.Duration `json:"silent_ns,omitempty"`
}

// ReplicaStatus is one copy of a stream.
type ReplicaStatus struct {
	Node    string `json:"node"`
	Leader  bool   `json:"leader,omitempty"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline,omitempty"`
	Lag     uint64 `json:"lag,omitempty"`
}

// StreamStatus is one JetStream stream of the deployment (a shard's log
// or the catalog) with its replicas.
type StreamStatus struct {
	Name     string          `json:"name"`
	Messages uint64          `json:"messages"`
	Replicas []ReplicaStatus `json:"replicas"`
}

// Degraded reports whether the stream has fewer than want current
// replicas, or none leading.
func (s StreamStatus) Degraded(want int) bool {
	n, leader := 0, false
	for _, r := range s.Replicas {
		if r.Current && !r.Offline {
			n++
		}
		leader = leader || r.Leader
	}
	return n < want || !leader
}

// ClusterStatus is the cluster as the servers that answered report it.
type ClusterStatus struct {
	Cluster    string         `json:"cluster"`
	MetaLeader string         `json:"meta_leader"`
	Nodes      []NodeStatus   `json:"nodes"`
	Streams    []StreamStatus `json:"streams"`
}

// Node returns the named node's status.
func (c *ClusterStatus) Node(name string) (NodeStatus, bool) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeStatus{}, false
}

// Admin administers a JetStream cluster through a connection to its
// system account.
type Admin struct {
	nc     *nats.Conn
	prefix string
}

// AdminOptions says how to reach a server of the cluster as a user of
// the system account.
type AdminOptions struct {
	// URL is a server's client URL (cluster-nats-listen of a node).
	URL string
	// User and Password, or CredsFile, identify a system account user.
	User, Password string
	CredsFile      string
	// Prefix is the deployment's nats-prefix; default "millrace".
	Prefix string
}

// DialAdmin connects to the cluster's system account.
func DialAdmin(o AdminOptions) (*Admin, error) {
	if o.Prefix == "" {
		o.Prefix = "millrace"
	}
	opts := []nats.Option{nats.Name("millrace-admin"), nats.Timeout(5 * time.Second)}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	} else if o.User != "" || o.Password != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", o.URL, err)
	}
	return &Admin{nc: nc, prefix: o.Prefix}, nil
}

// Close closes the connection.
func (a *Admin) Close() { a.nc.Close() }

type jszResponse struct {
	Server *server.ServerInfo `json:"server"`
	Data   *server.JSInfo     `json:"data"`
	Error  *server.ApiError   `json:"error"`
}

// Status asks every server for its JetStream report and puts the
// answers together. Servers that do not answer within wait are reported
// as the meta group sees them.
func (a *Admin) Status(ctx context.Context, wait time.Duration) (*ClusterStatus, error) {
	inbox := a.nc.NewRespInbox()
	sub, err := a.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(server.JszEventOptions{JSzOptions: server.JSzOptions{Account: "$G", Accounts: true, Streams: true}})
	if err := a.nc.PublishRequest("$SYS.REQ.SERVER.PING.JSZ", inbox, req); err != nil {
		return nil, err
	}
	const notSystem = "no server answered the JetStream report request: is this user in the system account (the node's cluster-system-password set, the same password given)?"
	var answers []jszResponse
	deadline := time.Now().Add(wait)
	expect := 0
	for expect == 0 || len(answers) < expect {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < left {
			left = time.Until(d)
		}
		m, err := sub.NextMsg(left)
		if errors.Is(err, nats.ErrTimeout) {
			break
		}
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, errors.New(notSystem)
		}
		if err != nil {
			return nil, err
		}
		var r jszResponse
		if err := json.Unmarshal(m.Data, &r); err != nil || r.Server == nil {
			continue
		}
		if r.Error != nil {
			return nil, fmt.Errorf("server %s: %s", r.Server.Name, r.Error.Description)
		}
		answers = append(answers, r)
		if r.Data != nil && r.Data.Meta != nil && r.Data.Meta.Size > expect {
			expect = r.Data.Meta.Size
		}
	}
	if len(answers) == 0 {
		if a.nc.Status() != nats.CONNECTED {
			return nil, errors.New("no server answered: the connection is down")
		}
		return nil, errors.New(notSystem)
	}
	return a.merge(answers), nil
}

func (a *Admin) merge(answers []jszResponse) *ClusterStatus {
	st := &ClusterStatus{}
	nodes := map[string]*NodeStatus{}
	node := func(name string) *NodeStatus {
		if n, ok := nodes[name]; ok {
			return n
		}
		n := &NodeStatus{Name: name}
		nodes[name] = n
		return n
	}
	streams := map[string]StreamStatus{}
	for _, r := range answers {
		node(r.Server.Name).Answered = true
		if r.Data == nil {
			continue
		}
		if m := r.Data.Meta; m != nil {
			if st.Cluster == "" {
				st.Cluster = m.Name
			}
			// The leader's view of the peers is the authoritative one.
			if m.Leader != "" && m.Leader == r.Server.Name {
				st.MetaLeader = m.Leader
				l := node(m.Leader)
				l.Leader, l.Current = true, true
				for _, p := range m.Replicas {
					n := node(p.Name)
					n.Current, n.Offline, n.Lag, n.Silent = p.Current, p.Offline, p.Lag, p.Active
				}
			} else if st.MetaLeader == "" && m.Leader != "" {
				st.MetaLeader = m.Leader
			}
		}
		for _, acc := range r.Data.AccountDetails {
			for _, sd := range acc.Streams {
				if !a.ours(sd.Name) || sd.Cluster == nil {
					continue
				}
				// A stream's leader reports its replicas; keep that report.
				if sd.Cluster.Leader != r.Server.Name {
					if _, seen := streams[sd.Name]; !seen {
						streams[sd.Name] = StreamStatus{Name: sd.Name}
					}
					continue
				}
				ss := StreamStatus{Name: sd.Name, Messages: sd.State.Msgs}
				ss.Replicas = append(ss.Replicas, ReplicaStatus{Node: sd.Cluster.Leader, Leader: true, Current: true})
				for _, p := range sd.Cluster.Replicas {
					ss.Replicas = append(ss.Replicas, ReplicaStatus{Node: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag})
				}
				streams[sd.Name] = ss
			}
		}
	}
	for _, n := range nodes {
		st.Nodes = append(st.Nodes, *n)
	}
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].Name < st.Nodes[j].Name })
	for _, s := range streams {
		st.Streams = append(st.Streams, s)
	}
	sort.Slice(st.Streams, func(i, j int) bool { return st.Streams[i].Name < st.Streams[j].Name })
	return st
}

// ours reports whether a JetStream stream belongs to this deployment: a
// shard's log or the catalog bucket.
func (a *Admin) ours(name string) bool {
	return strings.HasPrefix(name, a.prefix+"-log-") || name == "KV_"+a.prefix+"-catalog"
}

// deadAfter is how long the meta leader must not have heard from a node
// that does not answer before RemoveNode takes it for gone: the leader
// hears from every server about every second.
const deadAfter = 10 * time.Second

// ErrNodeAlive and ErrNodeUnknown are RemoveNode's refusals.
var (
	ErrNodeAlive   = errors.New("the node is still running")
	ErrNodeUnknown = errors.New("no such node in the cluster")
)

// RemoveNode tells the meta group that the named server is gone for good,
// so that JetStream places the replicas it held on other servers. It
// refuses a server that answers (stop it first) or that the cluster does
// not know.
func (a *Admin) RemoveNode(ctx context.Context, name string, wait time.Duration) error {
	st, err := a.Status(ctx, wait)
	if err != nil {
		return err
	}
	n, ok := st.Node(name)
	if !ok {
		names := make([]string, len(st.Nodes))
		for i, n := range st.Nodes {
			names[i] = n.Name
		}
		return fmt.Errorf("%q: %w (nodes: %s)", name, ErrNodeUnknown, strings.Join(names, ", "))
	}
	// A node is taken for gone when it did not answer and the meta
	// leader has not heard from it for a while (NATS marks a killed
	// server offline only minutes later).
	// Silent is 0 for a server this leader never heard from.
	never := n.Silent == 0 && !n.Current
	if n.Answered || n.Leader || (!n.Offline && !never && n.Silent < deadAfter) {
		return fmt.Errorf("%q: %w (it answered or the meta leader heard from it %s ago; stop it first, a node is removed once it has been silent for %s)",
			name, ErrNodeAlive, n.Silent.Round(time.Millisecond), deadAfter)
	}
	req, _ := json.Marshal(server.JSApiMetaServerRemoveRequest{Server: name})
	msg, err := a.nc.RequestWithContext(ctx, server.JSApiRemoveServer, req)
	if err != nil {
		return fmt.Errorf("removing %q: %w", name, err)
	}
	var resp server.JSApiMetaServerRemoveResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("removing %q: bad answer %q", name, msg.Data)
	}
	if resp.Error != nil {
		return fmt.Errorf("removing %q: %s", name, resp.Error.Description)
	}
	if !resp.Success {
		return fmt.Errorf("removing %q: JetStream did not confirm", name)
	}
	return nil
}

// addSystemUser gives the server two users: SystemUser in the system
// account, and the user that connections without credentials become, in
// the global account (where JetStream keeps the engine's data when no
// other account is configured).
func addSystemUser(so *server.Options, password string) {
	sys := server.NewAccount(systemAccount)
	so.Accounts = append(so.Accounts, sys)
	so.SystemAccount = systemAccount
	so.Users = append(so.Users,
		&server.User{Username: appUser, Password: randomPassword()},
		&server.User{Username: SystemUser, Password: password, Account: sys})
	so.NoAuthUser = appUser
}

// randomPassword is the password of the user connections without
// credentials become: nobody needs to know it.
func randomPassword() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// systemAccount is NATS's default name of the system account.
const systemAccount = "$SYS"
