package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/storage/jetstream"
)

const clusterHelp = `Usage:
  millrace cluster status [flags]
  millrace cluster remove-node [flags] NODE

Administers a cluster (docs/cluster.md) through JetStream's system
account, reached at a node's cluster-nats-listen address as the user
"system" with the password that node's cluster-system-password sets.

  status        the nodes (which is the meta leader, which are current,
                offline or behind, how long since the meta leader heard
                from each, whether each answered) and, for every shard's
                stream and the
                catalog, its leader and each replica's state and lag;
                every stream with fewer current replicas than it has is
                listed as degraded at the end
  remove-node   tells JetStream that NODE is gone for good, so that the
                replicas it held are placed on the other nodes (start a
                replacement first when only three nodes are left); refused
                while NODE answers or was heard from less than 10 s ago,
                and when the cluster does not know it

Flags:
  --nats URL         a node's NATS client URL (default: nats://ADDRESS from
                     the cluster-nats-listen setting read as serve reads it)
  --user NAME        system account user (default "system")
  --password PW      its password (default: the cluster-system-password
                     setting, e.g. MILLRACE_CLUSTER_SYSTEM_PASSWORD)
  --creds FILE       a NATS credentials file of a system account user instead
                     (an existing NATS cluster: nats-url)
  --prefix P         the deployment's nats-prefix (default from the settings)
  --wait d           how long to wait for every node's answer (default 2s)
  --json             status as JSON
`

// clusterCmd runs "millrace cluster ...".
func clusterCmd(ctx context.Context, args []string, stdout io.Writer, lookupEnv func(string) (string, bool)) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, clusterHelp)
		return nil
	}
	sub := args[0]
	if sub != "status" && sub != "remove-node" {
		return usageError{fmt.Errorf("unknown cluster command %q (known: status, remove-node)", sub)}
	}
	fs := flag.NewFlagSet("millrace cluster "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	natsURL := fs.String("nats", "", "")
	user := fs.String("user", jetstream.SystemUser, "")
	password := fs.String("password", "", "")
	creds := fs.String("creds", "", "")
	prefix := fs.String("prefix", "", "")
	wait := fs.Duration("wait", 2*time.Second, "")
	asJSON := fs.Bool("json", false, "")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, clusterHelp)
			return nil
		}
		return usageError{err}
	}
	want := 0
	if sub == "remove-node" {
		want = 1
	}
	if fs.NArg() != want {
		return usageError{fmt.Errorf("cluster %s takes %d argument(s), got %d", sub, want, fs.NArg())}
	}
	if *wait <= 0 {
		return usageError{fmt.Errorf("cluster %s: --wait %s must be greater than 0", sub, *wait)}
	}
	// The environment alone may say the password and prefix; the settings
	// are read (and must be valid) only for what it does not say.
	if *password == "" && *creds == "" {
		*password, _ = lookupEnv("MILLRACE_CLUSTER_SYSTEM_PASSWORD")
	}
	if *prefix == "" {
		*prefix, _ = lookupEnv("MILLRACE_NATS_PREFIX")
	}
	if *natsURL == "" || (*password == "" && *creds == "") {
		cfg, err := config.AddFlags(flag.NewFlagSet("millrace cluster", flag.ContinueOnError)).Load(lookupEnv)
		if err != nil {
			return usageError{fmt.Errorf("cluster %s: reading the settings (or pass --nats and --password): %w", sub, err)}
		}
		if *natsURL == "" {
			if cfg.ClusterNATSListen == "" {
				return usageError{fmt.Errorf("cluster %s: no --nats URL and no cluster-nats-listen setting to build one from", sub)}
			}
			host, port, err := net.SplitHostPort(cfg.ClusterNATSListen)
			if err != nil {
				return usageError{fmt.Errorf("cluster %s: cluster-nats-listen %q is not host:port; pass --nats", sub, cfg.ClusterNATSListen)}
			}
			if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
				host = "127.0.0.1"
			}
			*natsURL = "nats://" + net.JoinHostPort(host, port)
		}
		if *password == "" && *creds == "" {
			*password = cfg.ClusterSystemPassword
		}
		if *prefix == "" {
			*prefix = cfg.NATSPrefix
		}
	}
	if *password == "" && *creds == "" {
		return usageError{fmt.Errorf("cluster %s: no --password (nor cluster-system-password setting) and no --creds for the system account", sub)}
	}
	admin, err := jetstream.DialAdmin(jetstream.AdminOptions{URL: *natsURL, User: *user, Password: *password, CredsFile: *creds, Prefix: *prefix})
	if err != nil {
		return fmt.Errorf("cluster %s: %w", sub, err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(ctx, *wait+30*time.Second)
	defer cancel()
	if sub == "remove-node" {
		name := fs.Arg(0)
		if err := admin.RemoveNode(ctx, name, *wait); err != nil {
			return fmt.Errorf("cluster remove-node: %w", err)
		}
		fmt.Fprintf(stdout, "%s removed: JetStream places its replicas on the other nodes; follow with millrace cluster status\n", name)
		return nil
	}
	st, err := admin.Status(ctx, *wait)
	if err != nil {
		return fmt.Errorf("cluster status: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	writeClusterStatus(stdout, st)
	return nil
}

func writeClusterStatus(w io.Writer, st *jetstream.ClusterStatus) {
	leader := st.MetaLeader
	if leader == "" {
		leader = "none (no quorum)"
	}
	fmt.Fprintf(w, "cluster %s, meta leader %s\n\n", st.Cluster, leader)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tSTATE\tLAG\tSILENT\tANSWERED")
	for _, n := range st.Nodes {
		role := "follower"
		if n.Leader {
			role = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%v\n", n.Name, role, nodeState(n.Current, n.Offline), n.Lag, silent(n), yesNo(n.Answered))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tMESSAGES\tLEADER\tREPLICAS")
	var degraded []string
	for _, s := range st.Streams {
		leader := "none"
		var reps []string
		for _, r := range s.Replicas {
			if r.Leader {
				leader = r.Node
				continue
			}
			rs := r.Node + " " + nodeState(r.Current, r.Offline)
			if r.Lag > 0 {
				rs += fmt.Sprintf(" lag %d", r.Lag)
			}
			reps = append(reps, rs)
		}
		if s.Degraded(len(s.Replicas)) || len(s.Replicas) == 0 {
			degraded = append(degraded, s.Name)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Name, s.Messages, leader, strings.Join(reps, ", "))
	}
	tw.Flush()
	if len(degraded) == 0 {
		fmt.Fprintf(w, "\nstreams: %d, every replica current\n", len(st.Streams))
	} else {
		fmt.Fprintf(w, "\nstreams: %d, degraded: %d (%s)\n", len(st.Streams), len(degraded), strings.Join(degraded, ", "))
	}
}

func nodeState(current, offline bool) string {
	switch {
	case offline:
		return "offline"
	case current:
		return "current"
	default:
		return "behind"
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// silent is how long ago the meta leader heard from a node, "never" for
// one it has not heard from since it leads.
func silent(n jetstream.NodeStatus) string {
	if n.Silent == 0 && !n.Leader && !n.Current {
		return "never"
	}
	return n.Silent.Round(100 * time.Millisecond).String()
}
