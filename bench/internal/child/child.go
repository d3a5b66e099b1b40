// Package child builds the example apps and runs them, unchanged, as child
// processes of a benchmark command: each on 127.0.0.1, watched through its
// log on stderr, stopped with SIGTERM.
package child

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build builds the main package pkg of the examples module ("./chat",
// "./logstream") into dir and returns the binary's path. It finds the
// repository from the library's module directory (the bench module
// replaces it with ../), and builds in the examples module, so that it
// works with or without the repository's go.work.
func Build(dir, pkg string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/macaron-contrib/sockets").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("finding the repository (go list -m; run from bench/, or give the binary): %w", err)
	}
	root := strings.TrimSpace(string(out))
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = filepath.Join(root, "examples")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s in %s: %w\n%s", pkg, cmd.Dir, err, b)
	}
	return bin, nil
}

// Config says how to start a child.
type Config struct {
	Bin  string
	Args []string
	// Env is the child's environment; nil: this process's.
	Env []string
	// Ready is called with each line the child writes to stderr until it
	// reports true: the child is ready (it listens) once it has.
	Ready func(line string) bool
	// OnLine, if set, is called with every line of the child's stderr, in
	// order, from one goroutine; it must not block for long.
	OnLine func(line string)
	// StartTimeout bounds the wait for Ready (default 30 s).
	StartTimeout time.Duration
}

// Process is one running child.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}

	mu   sync.Mutex
	tail []string // its last log lines
	err  error    // from Wait, once exited is closed
}

// tailLines is the number of the child's last log lines kept.
const tailLines = 20

// Start runs the child and waits until Ready reports true, the child
// exits, or StartTimeout passes. The child is killed if this process dies.
func Start(cfg Config) (*Process, error) {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	cmd := exec.Command(cfg.Bin, cfg.Args...)
	cmd.Env = cfg.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Bin, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Bin, err)
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		waiting := true
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			if len(p.tail) == tailLines {
				p.tail = p.tail[1:]
			}
			p.tail = append(p.tail, line)
			p.mu.Unlock()
			if waiting && cfg.Ready(line) {
				waiting = false
				close(ready)
			}
			if cfg.OnLine != nil {
				cfg.OnLine(line)
			}
		}
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.exited)
	}()
	select {
	case <-ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("%s exited before it was ready: %v\n%s", cfg.Bin, p.waitErr(), p.LogTail())
	case <-time.After(cfg.StartTimeout):
		p.Stop()
		return nil, fmt.Errorf("%s: not ready within %v\n%s", cfg.Bin, cfg.StartTimeout, p.LogTail())
	}
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogTail returns the child's last log lines.
func (p *Process) LogTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

func (p *Process) waitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stop sends SIGTERM and waits for the child to end; past 15 s it is
// killed. It returns how the child ended.
func (p *Process) Stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return errors.New("did not stop within 15s of SIGTERM: killed")
	}
	return p.waitErr()
}
