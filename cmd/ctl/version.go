package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is stamped by release builds (-ldflags "-X main.version=v1.2.3");
// otherwise the module version or the commit from the build info is used.
var version string

type buildVersion struct {
	Version, Commit, CommitTime, Go string
	Modified                        bool
}

func readVersion() buildVersion {
	v := buildVersion{Version: version, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.CommitTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}

func versionString() string {
	v := readVersion()
	s := v.Version
	if v.Commit != "" {
		c := v.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if v.Modified {
			c += "+changes"
		}
		s += " (commit " + c
		if v.CommitTime != "" {
			s += " of " + v.CommitTime
		}
		s += ")"
	}
	return s + ", " + v.Go
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print ctl's version (the build it came from)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if a.output == "json" {
				v := readVersion()
				return a.json(object{{"version", v.Version}, {"commit", v.Commit}, {"commit_time", v.CommitTime}, {"modified", v.Modified}, {"go", v.Go}})
			}
			fmt.Fprintln(a.stdout, "ctl", versionString())
			return nil
		},
	}
}
