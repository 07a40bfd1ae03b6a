package cli

import (
	"context"
	"errors"
	"io"

	"github.com/millrace/millrace/internal/agent/agentcmd"
)

func writeAgentHelp(w io.Writer) { agentcmd.WriteHelp(w, "millrace agent") }

// runAgent is the agent command.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := agentcmd.Run(ctx, "millrace agent", args, stdout, stderr)
	var ue agentcmd.UsageError
	if errors.As(err, &ue) {
		return usageError{ue.Err}
	}
	return err
}
