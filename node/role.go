package node

import "fmt"

// Role is what a node does with its log; it is decided here, once, from
// --mode, and everything else asks the Role.
type Role string

const (
	Primary Role = "primary" // sequences and signs the log
	Replica Role = "replica" // follows a primary's log from its peers
)

// ParseRole reads --mode.
func ParseRole(mode string) (Role, error) {
	switch r := Role(mode); r {
	case Primary, Replica:
		return r, nil
	}
	return "", fmt.Errorf("--mode must be primary or replica, not %q", mode)
}
