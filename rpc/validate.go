package rpc

// SPEC §4 limits on names.
const (
	maxLineageLen    = 128
	maxExternalIDLen = 255
)

func validLineage(s string) bool {
	if len(s) < 1 || len(s) > maxLineageLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ':' || c == '.' || c == '_' || c == '/' || c == '-':
		default:
			return false
		}
	}
	return true
}

func validExternalID(s string) bool {
	if len(s) < 1 || len(s) > maxExternalIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// checkTicketName validates the (lineage, externalId) of a ticket call.
func checkTicketName(lineage, externalID string) error {
	if lineage == "" {
		return invalidParams("missing field lineage")
	}
	if !validLineage(lineage) {
		return invalidParams("lineage must be 1-128 bytes of [A-Za-z0-9:._/-]")
	}
	if externalID == "" {
		return invalidParams("missing field externalId")
	}
	if !validExternalID(externalID) {
		return invalidParams("externalId must be 1-255 bytes of printable ASCII without space")
	}
	return nil
}
