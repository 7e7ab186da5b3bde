package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// flagSet is a standard flag.FlagSet parsed GNU style: flags may come
// before, between or after the positional arguments, as --name value or
// --name=value (one dash works too), and "--" ends the flags.
type flagSet struct {
	*flag.FlagSet
	cmd *command
}

// newFlagSet returns an empty flag set for c. The flag package's own
// output is discarded: errors come back as usage errors and help is
// printed by printCommandHelp.
func newFlagSet(c *command) *flagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, cmd: c}
}

// errHelp is returned by parse after --help was printed; commands return
// it unchanged and run turns it into exit status 0.
var errHelp = errors.New("help requested")

// parse parses args and returns the positional arguments. It prints the
// command's help to stdout and returns errHelp for -h/--help.
func (f *flagSet) parse(e *env, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, _, hasValue := strings.Cut(name, "=")
		if name == "h" || name == "help" {
			printCommandHelp(e.stdout, f)
			return nil, errHelp
		}
		fl := f.Lookup(name)
		if fl == nil || name == "" || strings.HasPrefix(name, "-") {
			return nil, usageErrorf("%s: unknown flag %s (see 'fernetfs %s --help')", f.cmd.name, a, f.cmd.name)
		}
		flags = append(flags, a)
		if hasValue || isBoolFlag(fl) {
			continue
		}
		if i+1 == len(args) {
			return nil, usageErrorf("%s: flag %s needs a value", f.cmd.name, a)
		}
		i++
		flags = append(flags, args[i])
	}
	if err := f.FlagSet.Parse(flags); err != nil {
		return nil, usageErrorf("%s: %v", f.cmd.name, err)
	}
	return pos, nil
}

// parseN is parse that also requires exactly the named positional
// arguments.
func (f *flagSet) parseN(e *env, args []string, names ...string) ([]string, error) {
	pos, err := f.parse(e, args)
	if err != nil {
		return nil, err
	}
	if len(pos) < len(names) {
		return nil, usageErrorf("%s: missing %s argument (see 'fernetfs %s --help')", f.cmd.name, names[len(pos)], f.cmd.name)
	}
	if len(pos) > len(names) {
		return nil, usageErrorf("%s: unexpected argument %q (see 'fernetfs %s --help')", f.cmd.name, pos[len(names)], f.cmd.name)
	}
	return pos, nil
}

func isBoolFlag(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// printCommandHelp prints "fernetfs NAME --help": synopsis, description and
// the flags registered in f (each with its value name and default).
func printCommandHelp(w io.Writer, f *flagSet) {
	c := f.cmd
	fmt.Fprintf(w, "Usage: fernetfs %s %s\n\n%s\n", c.name, c.synopsis, strings.TrimSpace(c.help))
	var lines [][2]string
	width := 0
	f.VisitAll(func(fl *flag.Flag) {
		valueName, usage := flag.UnquoteUsage(fl)
		left := "--" + fl.Name
		if !isBoolFlag(fl) && valueName != "" {
			left += " " + valueName
		}
		if fl.DefValue != "" && fl.DefValue != "0" && fl.DefValue != "false" {
			usage += fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		width = max(width, len(left))
		lines = append(lines, [2]string{left, usage})
	})
	lines = append(lines, [2]string{"--help", "show this help"})
	width = max(width, len("--help"))
	fmt.Fprint(w, "\nFlags:\n")
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
	}
}
