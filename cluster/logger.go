package cluster

import (
	"bytes"
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// newRaftLogger routes hashicorp/raft's hclog output into the node's slog
// logger, one record per line, at the level hclog gave it.
func newRaftLogger(l *slog.Logger) hclog.Logger {
	if l == nil {
		l = slog.Default()
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:            "raft",
		Level:           hclog.Info,
		Output:          slogWriter{l},
		DisableTime:     true,
		IncludeLocation: false,
	})
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		level := slog.LevelInfo
		switch {
		case bytes.HasPrefix(line, []byte("[ERROR]")):
			level = slog.LevelError
		case bytes.HasPrefix(line, []byte("[WARN]")):
			level = slog.LevelWarn
		case bytes.HasPrefix(line, []byte("[DEBUG]")), bytes.HasPrefix(line, []byte("[TRACE]")):
			level = slog.LevelDebug
		}
		if i := bytes.IndexByte(line, ']'); i >= 0 {
			line = bytes.TrimSpace(line[i+1:])
		}
		w.l.Log(context.Background(), level, string(line))
	}
	return len(p), nil
}
