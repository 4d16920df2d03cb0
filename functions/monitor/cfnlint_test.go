package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestCfnLint runs AWS's CloudFormation linter (which runs the SAM translator
// first) on template.yaml and on one copy per combination of the network
// parameters, and wants no finding at all: no error, warning or informational
// note (exit status 0).
//
// Each combination is linted as a copy whose parameters default to its values,
// because cfn-lint 1.51 ignores --parameters on a SAM template: it rebuilds its
// context after the transform without them. A copy with a deliberate mistake,
// visible only with the VPC's values, proves that the copies are evaluated.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal(`cfn-lint is not installed: run "make tools" (python3 -m pip install cfn-lint)`)
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	files := map[string]string{write("template", src): "template.yaml as it is"}
	for _, n := range networks() {
		files[write(n.String(), withDefaults(t, src, n.values()))] = "template.yaml with " + n.String()
	}
	// The mistake: the function's security groups taken from SubnetIds, in the
	// branch used in a VPC without endpoints, which the defaults do not reach.
	broken := bytes.Replace(src, []byte(`- !Split [",", !Ref SecurityGroupIds]`), []byte(`- !Split [",", !Ref SubnetIds]`), 1)
	if bytes.Equal(broken, src) {
		t.Fatal("the deliberate mistake no longer applies to template.yaml; update it")
	}
	inVpc := network{"SubnetIds": true, "SecurityGroupIds": true}
	brokenDefaults := write("broken-defaults", broken)
	brokenInVpc := write("broken-"+inVpc.String(), withDefaults(t, broken, inVpc.values()))

	// One process lints many files (its start-up costs more than a file), and
	// the files are shared among processes, one per CPU.
	paths := slices.Sorted(maps.Keys(files))
	groups := make([][]string, max(1, min(runtime.NumCPU(), 4)))
	for i, p := range paths {
		groups[i%len(groups)] = append(groups[i%len(groups)], p)
	}
	groups = append(groups, []string{brokenDefaults, brokenInVpc})
	results := make([]lintResult, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() { results[i] = cfnLint(t, bin, g) })
	}
	wg.Wait()

	for _, r := range results[:len(results)-1] {
		if r.err != nil || len(r.findings) > 0 {
			for _, path := range paths {
				if f := r.findings[path]; len(f) > 0 {
					t.Errorf("cfn-lint on %s:\n%s", files[path], strings.Join(f, "\n"))
				}
			}
			t.Errorf("cfn-lint exited with %v\n%s", r.err, r.stderr)
		}
	}
	proof := results[len(results)-1]
	if f := proof.findings[brokenDefaults]; len(f) > 0 {
		t.Errorf("the deliberate mistake is visible with the defaults, so it proves nothing about the combinations:\n%s", strings.Join(f, "\n"))
	}
	if f := proof.findings[brokenInVpc]; !strings.Contains(strings.Join(f, "\n"), "'subnet-") {
		t.Errorf("cfn-lint did not catch subnets used as security groups in %s: it does not evaluate the combinations' values (findings %q, %v)\n%s",
			inVpc, f, proof.err, proof.stderr)
	}
}

type lintResult struct {
	findings map[string][]string // by file
	stderr   string
	err      error
}

// cfnLint runs cfn-lint once over the files.
func cfnLint(t *testing.T, bin string, files []string) lintResult {
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"--format", "parseable", "--"}, files...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := lintResult{findings: map[string][]string{}, err: cmd.Run(), stderr: stderr.String()}
	if exit := (*exec.ExitError)(nil); errors.As(r.err, &exit) && exit.ExitCode() == 1 {
		r.err = fmt.Errorf("%w (cfn-lint itself failed)", r.err)
	}
	// file:line:column:endline:endcolumn:rule:message
	for line := range strings.Lines(stdout.String()) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		path := line
		for _, f := range files {
			if strings.HasPrefix(line, f+":") {
				path, line = f, strings.TrimPrefix(line, f+":")
			}
		}
		r.findings[path] = append(r.findings[path], "  template.yaml:"+line)
	}
	return r
}

// withDefaults returns the template with the given parameters' defaults set to
// the values, line for line (so that cfn-lint's line numbers are template.yaml's).
// A parameter with AllowedValues gets that value alone: cfn-lint resolves such a
// parameter to each allowed value, not to its default.
func withDefaults(t *testing.T, src []byte, values map[string]string) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	set := func(n *yaml.Node, value string) {
		l := lines[n.Line-1]
		lines[n.Line-1] = l[:n.Column-1] + value
	}
	params := mappingValue(doc.Content[0], "Parameters")
	for name, v := range values {
		p := mappingValue(params, name)
		def := mappingValue(p, "Default")
		if def == nil {
			t.Fatalf("parameter %s has no Default", name)
		}
		set(def, strconv.Quote(v))
		if allowed := mappingValue(p, "AllowedValues"); allowed != nil {
			set(allowed, "["+strconv.Quote(v)+"]")
		}
	}
	out := []byte(strings.Join(lines, "\n"))

	got, _ := dig(cfnDoc(t, out), "Parameters").(map[string]any)
	for name, v := range values {
		if dig(got[name], "Default") != v {
			t.Fatalf("setting %s's default to %q gave %v", name, v, dig(got[name], "Default"))
		}
	}
	return out
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
