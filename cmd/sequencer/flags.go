package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// envName is the environment variable a flag falls back to.
func envName(flagName string) string {
	return "SEQUENCER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseCommand parses a command's flags (parseFlags). When it returns
// false the command exits with code: 0 after -h, 2 after a bad command
// line, which is reported on stderr after prefix.
func parseCommand(fs *flag.FlagSet, args []string, stderr io.Writer, prefix string) (code int, ok bool) {
	err := parseFlags(fs, args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	}
	fmt.Fprintln(stderr, prefix+":", err)
	return 2, false
}

// parseFlags parses args, then fills every flag not given on the command
// line from its SEQUENCER_<FLAG> environment variable, and then, if the
// flag set has --config and it names a file, from that file. Precedence:
// command line, environment, config file, default.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", envName(f.Name), e)
			}
			set[f.Name] = true
		}
	})
	if err != nil {
		return err
	}
	if cf := fs.Lookup("config"); cf != nil && cf.Value.String() != "" {
		return applyConfigFile(fs, cf.Value.String(), set)
	}
	return nil
}

// applyConfigFile sets, from a file of `flag = value` lines ('#' starts a
// comment), every flag not already set. Unknown names are errors, so a
// typo does not silently fall back to a default.
func applyConfigFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), "--")), strings.TrimSpace(value)
		if !ok || name == "" {
			return fmt.Errorf("%s:%d: want `flag = value`", path, n)
		}
		value = strings.Trim(value, `"`)
		if name == "config" || fs.Lookup(name) == nil {
			return fmt.Errorf("%s:%d: unknown setting %q", path, n, name)
		}
		if set[name] {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", path, n, name, err)
		}
	}
	return sc.Err()
}
