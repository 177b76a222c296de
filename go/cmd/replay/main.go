// Command replay is the HTTP benchmark's replay client: kube-scheduler's
// conversation with an extender (per pod: POST /filter over every node, POST
// /prioritize over the survivors, POST /bind), timed per request, exactly as
// bench/driver.py's run_http does it but without the Python driver's own CPU
// cost on the two cores it shares with the server it measures.
//
// Inputs (written by bench/replay.py): -nodes, one Node object a line, and
// -pods, one Pod object a line, each as orjson encodes it (the bytes the
// Python driver sends); -count takes the first N pods. Output: one JSON
// document (-out) with the per-verb latencies and finish times in ns, the
// placements, errors, reconnects, wall time and this process's CPU time
// (getrusage, user and system) over the timed loop. With -progress N it
// prints "progress K" on stderr every N pods done. With -sample-size N each
// /filter carries a window of N nodes rotating from pod to pod instead of
// every node, and with -all-nodes-every K pods 0, K, 2K, ... carry every node
// (kube-scheduler's node sampling, bench/sampling.py).
//
// Only the standard library; -version prints one line and exits.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const maxErrorsKept = 20 // as driver.MAX_ERRORS_KEPT

type options struct {
	host        string
	port        int
	nodesFile   string
	podsFile    string
	count       int
	nodeCache   bool
	concurrency int
	tieBreak    string
	seed        int64
	out         string
	progress    int
	timeout     time.Duration
	cpuProfile  string
	sampleSize  int // 0: every node in every /filter; else a rotating window this long
	probeEvery  int // with a window: pods 0, K, 2K, ... carry every node
}

// result is what the output file holds (bench/replay.py reads it).
type result struct {
	Client        string             `json:"client"`
	GoVersion     string             `json:"go_version"`
	Pods          int                `json:"pods"`
	NodeCache     bool               `json:"node_cache"`
	Concurrency   int                `json:"concurrency"`
	WallNs        int64              `json:"wall_ns"`
	LatencyNs     map[string][]int64 `json:"latency_ns"`
	DoneNs        []int64            `json:"done_ns"`
	PlacedIndex   []int              `json:"placed_index"` // in the order the binds succeeded
	PlacedNode    []string           `json:"placed_node"`
	Unschedulable int                `json:"unschedulable"`
	ErrorCount    int                `json:"error_count"`
	Errors        []string           `json:"errors"`
	Reconnects    int                `json:"reconnects"`
	Rebinds       int                `json:"rebinds"`     // pods sent round again after a refused bind
	CPU           cpuTimes           `json:"cpu"`         // the timed loop
	ProcessCPU    cpuTimes           `json:"process_cpu"` // the whole process until the output
	GCCycles      uint32             `json:"gc_cycles"`   // Go collections during the loop
	GCPauseNs     uint64             `json:"gc_pause_ns"`
}

type cpuTimes struct {
	UserNs int64 `json:"user_ns"`
	SysNs  int64 `json:"sys_ns"`
}

func rusage() cpuTimes {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}
	}
	return cpuTimes{ru.Utime.Nano(), ru.Stime.Nano()}
}

func (c cpuTimes) minus(o cpuTimes) cpuTimes {
	return cpuTimes{c.UserNs - o.UserNs, c.SysNs - o.SysNs}
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.host, "host", "127.0.0.1", "extender host")
	fs.IntVar(&o.port, "port", 0, "extender port (required)")
	fs.StringVar(&o.nodesFile, "nodes", "", "file of Node objects, one JSON a line (required)")
	fs.StringVar(&o.podsFile, "pods", "", "file of Pod objects, one JSON a line, in order (required)")
	fs.IntVar(&o.count, "count", -1, "schedule the first N pods of -pods (default: all)")
	fs.BoolVar(&o.nodeCache, "node-cache", true, "send NodeNames (nodeCacheCapable) instead of Node objects")
	fs.IntVar(&o.concurrency, "concurrency", 1, "scheduler goroutines, each with its own connection")
	fs.StringVar(&o.tieBreak, "tie-break", "first", "among equal best scores: first (in the order sent) or random")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the random tie-break (goroutine k: PCG(seed*1000+k, 0))")
	fs.StringVar(&o.out, "out", "", "write the result JSON here (default: stdout)")
	fs.IntVar(&o.progress, "progress", 0, "print \"progress K\" on stderr every N pods (0: never)")
	fs.DurationVar(&o.timeout, "timeout", 120*time.Second, "per request, as the Python driver's")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed loop here (go tool pprof)")
	fs.IntVar(&o.sampleSize, "sample-size", 0, "nodes a /filter carries: pod i the window from (i*N) mod nodes on, wrapping (0: all)")
	fs.IntVar(&o.probeEvery, "all-nodes-every", 0, "with -sample-size: pods 0, K, 2K, ... carry every node (0: none)")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *version {
		return nil, errVersion
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case o.port <= 0 || o.port > 65535:
		return nil, errors.New("-port is required (1..65535)")
	case o.nodesFile == "" || o.podsFile == "":
		return nil, errors.New("-nodes and -pods are required")
	case o.concurrency < 1:
		return nil, errors.New("-concurrency must be at least 1")
	case o.sampleSize < 0 || o.probeEvery < 0:
		return nil, errors.New("-sample-size and -all-nodes-every must not be negative")
	case o.tieBreak != "first" && o.tieBreak != "random":
		return nil, fmt.Errorf("-tie-break must be first or random, not %q", o.tieBreak)
	}
	return o, nil
}

var errVersion = errors.New("version")

// lines splits a file into its non-empty lines (slices of data).
func lines(data []byte, max int) [][]byte {
	var out [][]byte
	for len(data) > 0 && (max < 0 || len(out) < max) {
		line := data
		if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
			line, data = data[:nl], data[nl+1:]
		} else {
			data = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) > 0 {
			out = append(out, line)
		}
	}
	return out
}

// objectMeta reads metadata.name, .namespace and .uid of an object; the
// namespace as JSON text as orjson would re-encode it (absent: "default",
// as the Python driver's meta.get("namespace", "default")).
func objectMeta(obj []byte) (name, uid string, namespace []byte, err error) {
	s := newScanner(obj)
	haveName := false
	namespace = []byte(`"default"`)
	err = s.object(func(key []byte) error {
		if string(key) != "metadata" {
			return s.skip()
		}
		return s.object(func(key []byte) error {
			switch string(key) {
			case "name":
				v, err := s.str()
				name, haveName = string(v), err == nil
				return err
			case "uid":
				v, err := s.str()
				uid = string(v)
				return err
			case "namespace":
				if s.peek() == '"' {
					v, err := s.str()
					namespace = appendJSONString(nil, string(v))
					return err
				}
				raw, err := s.raw()
				namespace = append([]byte(nil), raw...)
				return err
			}
			return s.skip()
		})
	})
	if err == nil {
		err = s.end()
	}
	if err == nil && !haveName {
		err = errors.New("no metadata.name")
	}
	return name, uid, namespace, err
}

func loadNodes(path string) ([]string, [][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	objs := lines(data, -1)
	names := make([]string, len(objs))
	for i, obj := range objs {
		name, _, _, err := objectMeta(obj)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: node %d: %w", path, i+1, err)
		}
		names[i] = name
	}
	return names, objs, nil
}

func loadPods(path string, count int) ([]pod, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs := lines(data, count)
	if count >= 0 && len(objs) < count {
		return nil, fmt.Errorf("%s: %d pods, -count asks for %d", path, len(objs), count)
	}
	pods := make([]pod, len(objs))
	for i, obj := range objs {
		name, uid, namespace, err := objectMeta(obj)
		if err == nil && uid == "" {
			err = errors.New("no metadata.uid")
		}
		if err != nil {
			return nil, fmt.Errorf("%s: pod %d: %w", path, i+1, err)
		}
		head := []byte(`{"PodName":`)
		head = appendJSONString(head, name)
		head = append(head, `,"PodNamespace":`...)
		head = append(head, namespace...)
		head = append(head, `,"PodUID":`...)
		head = appendJSONString(head, uid)
		head = append(head, `,"Node":`...)
		pods[i] = pod{name: name, json: obj, bindHead: head}
	}
	return pods, nil
}

// run schedules every pod and fills a result (all but the CPU figures).
func run(o *options, cl *cluster, pods []pod, stderr io.Writer) *result {
	n := len(pods)
	res := &result{
		Client: "go", GoVersion: runtime.Version(), Pods: n,
		NodeCache: o.nodeCache, Concurrency: o.concurrency,
		LatencyNs: map[string][]int64{}, DoneNs: make([]int64, n),
		Errors: []string{}, PlacedIndex: []int{}, PlacedNode: []string{},
	}
	lat := make([][]int64, numVerbs)
	for v := range lat {
		lat[v] = make([]int64, n)
		for i := range lat[v] {
			lat[v][i] = -1
		}
		res.LatencyNs[verbNames[v]] = lat[v]
	}
	for i := range res.DoneNs {
		res.DoneNs[i] = -1
	}
	addr := net.JoinHostPort(o.host, strconv.Itoa(o.port))
	var next, done atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for k := 0; k < o.concurrency; k++ {
		w := newWorker(newHTTPConn(addr, o.timeout), cl, o.tieBreak, o.seed, k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.conn.close()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					break
				}
				t := timings{-1, -1, -1}
				node, err := w.scheduleOne(&pods[i], i, &t)
				for v := range t {
					lat[v][i] = t[v]
				}
				res.DoneNs[i] = time.Since(start).Nanoseconds()
				mu.Lock()
				switch {
				case err != nil:
					res.ErrorCount++
					if len(res.Errors) < maxErrorsKept {
						res.Errors = append(res.Errors, err.Error())
					}
				case node == "":
					res.Unschedulable++
				default:
					res.PlacedIndex = append(res.PlacedIndex, i)
					res.PlacedNode = append(res.PlacedNode, node)
				}
				mu.Unlock()
				if d := done.Add(1); o.progress > 0 && d%int64(o.progress) == 0 {
					fmt.Fprintf(stderr, "progress %d\n", d)
				}
			}
			mu.Lock()
			res.Reconnects += w.conn.reconnects
			res.Rebinds += w.rebinds
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.WallNs = time.Since(start).Nanoseconds()
	if o.progress > 0 && done.Load()%int64(o.progress) != 0 {
		fmt.Fprintf(stderr, "progress %d\n", done.Load())
	}
	return res
}

func main() {
	os.Exit(mainWith(os.Args[1:], os.Stdout, os.Stderr))
}

func mainWith(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, errVersion) {
		fmt.Fprintf(stdout, "podsift replay (%s)\n", runtime.Version())
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 2
	}
	names, nodeJSON, err := loadNodes(o.nodesFile)
	if err == nil && len(names) == 0 {
		err = fmt.Errorf("%s: no nodes", o.nodesFile)
	}
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 2
	}
	pods, err := loadPods(o.podsFile, o.count)
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 2
	}
	cl := newCluster(names, nodeJSON, o.nodeCache)
	cl.sample(o.sampleSize, o.probeEvery)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "replay: %v\n", err)
			return 2
		}
		defer f.Close()
	}
	cpu0 := rusage()
	res := run(o, cl, pods, stderr)
	cpu1 := rusage()
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	res.CPU = cpu1.minus(cpu0)
	res.ProcessCPU = cpu1
	res.GCCycles = after.NumGC - before.NumGC
	res.GCPauseNs = after.PauseTotalNs - before.PauseTotalNs
	encoded, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	if o.out == "" {
		_, err = stdout.Write(append(encoded, '\n'))
	} else {
		err = os.WriteFile(o.out, encoded, 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	return 0
}
