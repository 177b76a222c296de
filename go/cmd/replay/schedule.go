package main

// The conversation per pod, as bench/driver.py's _schedule_one_http: POST
// /filter with every node, POST /prioritize over the survivors (skipped when
// exactly one survives), the best score, POST /bind. Request bodies are the
// bytes the Python driver sends: the pod as orjson encoded it (the input
// file holds exactly those bytes), the node names or Node objects
// pre-encoded once, joined without copying by a vectored write.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

const (
	verbFilter = iota
	verbPrioritize
	verbBind
	numVerbs
)

var verbNames = [numVerbs]string{"filter", "prioritize", "bind"}

// cluster is the node side of every request body, built once per run.
type cluster struct {
	nodeCache bool
	names     []string
	encNames  [][]byte // each name as a JSON string
	index     map[string]int
	nodeJSON  [][]byte // each Node object as sent (full Nodes mode)
	allNodes  []byte   // the end of a /filter body: every node
	window    int      // 0: every /filter carries allNodes; else this many nodes
	probe     int      // with a window: every probe-th pod carries allNodes (0: none)
}

// sample makes /filter carry a rotating window of size nodes (bench/sampling.py):
// pod i the nodes from (i*size) mod n on, wrapping; pods 0, every, 2*every, ...
// all of them. A size of 0 or at least the node count means every node.
func (c *cluster) sample(size, every int) {
	if size <= 0 || size >= len(c.names) {
		return
	}
	c.window, c.probe = size, every
}

// sampled says whether pod i's /filter carries a window rather than every node.
func (c *cluster) sampled(i int) bool {
	return c.window > 0 && (c.probe == 0 || i%c.probe != 0)
}

// windowOf sets idx to pod i's window of node indexes.
func (c *cluster) windowOf(idx []int, i int) []int {
	n := len(c.names)
	start := i * c.window % n
	idx = idx[:0]
	for k := 0; k < c.window; k++ {
		idx = append(idx, (start+k)%n)
	}
	return idx
}

func newCluster(names []string, nodeJSON [][]byte, nodeCache bool) *cluster {
	c := &cluster{nodeCache: nodeCache, names: names, nodeJSON: nodeJSON}
	c.index = make(map[string]int, len(names))
	c.encNames = make([][]byte, len(names))
	for i, n := range names {
		c.encNames[i] = appendJSONString(nil, n)
		if _, dup := c.index[n]; !dup {
			c.index[n] = i
		}
	}
	all := make([]int, len(names))
	for i := range all {
		all[i] = i
	}
	c.allNodes = c.appendSubset(nil, all)
	return c
}

// appendSubset appends the end of an ExtenderArgs body (after the pod) naming
// these nodes, in this order: what _NodeBodies.subset builds.
func (c *cluster) appendSubset(dst []byte, nodes []int) []byte {
	if c.nodeCache {
		dst = append(dst, `,"Nodes":null,"NodeNames":[`...)
		for k, i := range nodes {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, c.encNames[i]...)
		}
		return append(dst, "]}"...)
	}
	dst = append(dst, `,"Nodes":{"metadata":{},"items":[`...)
	for k, i := range nodes {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, c.nodeJSON[i]...)
	}
	return append(dst, `]},"NodeNames":null}`...)
}

// pod is one pending pod of the input.
type pod struct {
	name     string
	json     []byte // the Pod object, as the Python driver encodes it
	bindHead []byte // the ExtenderBindingArgs up to the node's name
}

// podFailed is an error that fails one pod (recorded, the run goes on).
type podFailed struct {
	msg     string
	refused bool // the extender refused the bind: the node no longer fits
}

func (e *podFailed) Error() string { return e.msg }

func isRefusedBind(err error) bool {
	var pf *podFailed
	return errors.As(err, &pf) && pf.refused
}

func failf(format string, args ...any) error {
	return &podFailed{msg: fmt.Sprintf(format, args...)}
}

var (
	podHead    = []byte(`{"Pod":`)
	bindTail   = []byte("}")
	errNoEntry = errors.New("an entry without Host or Score")
)

// worker is one scheduler goroutine with its own connection and generator.
type worker struct {
	conn      *httpConn
	cl        *cluster
	random    bool
	rng       *rand.Rand
	survivors []int
	strangers []string
	tied      [][]byte // hosts tied for the best score (slices of the answer)
	subset    []byte
	window    []byte // a sampled /filter's node part
	windowIdx []int
	bind      []byte
	rebinds   int // pods sent round again after a refused bind
}

func newWorker(conn *httpConn, cl *cluster, tieBreak string, seed int64, index int) *worker {
	// The Python driver seeds random.Random(seed * 1000 + thread); this client
	// seeds Go's PCG with the same number. The sequences differ, which only
	// matters for --tie-break random, where no two clients are expected to agree.
	src := rand.NewPCG(uint64(seed*1000+int64(index)), 0)
	return &worker{conn: conn, cl: cl, random: tieBreak == "random", rng: rand.New(src)}
}

// timings are one pod's latencies in ns, -1 where the verb was not called.
type timings [numVerbs]int64

func (w *worker) post(t *timings, verb int, path string, parts ...[]byte) ([]byte, error) {
	t0 := time.Now()
	body, err := w.conn.post(path, parts...)
	if err == nil {
		t[verb] = time.Since(t0).Nanoseconds()
	}
	return body, err
}

// bindRetries bounds how often one pod goes round again after a refused bind.
const bindRetries = 3

// scheduleOne returns the chosen node, "" when no node fits, or a pod failure.
// A bind refused because the node no longer fits (with several schedulers,
// another one's bind landed between this pod's filter and its bind) starts the
// pod's conversation again, as kube-scheduler requeues a pod whose bind failed.
func (w *worker) scheduleOne(p *pod, i int, t *timings) (string, error) {
	node, err := w.conversation(p, i, t)
	for attempt := 0; err != nil && attempt < bindRetries && isRefusedBind(err); attempt++ {
		w.rebinds++
		node, err = w.conversation(p, i, t)
	}
	if err != nil {
		var pf *podFailed
		if !errors.As(err, &pf) {
			err = &podFailed{msg: p.name + ": " + err.Error()}
		}
	}
	return node, err
}

func (w *worker) conversation(p *pod, i int, t *timings) (string, error) {
	cl := w.cl
	nodes := cl.allNodes
	if cl.sampled(i) {
		w.windowIdx = cl.windowOf(w.windowIdx, i)
		w.window = cl.appendSubset(w.window[:0], w.windowIdx)
		nodes = w.window
	}
	raw, err := w.post(t, verbFilter, "/filter", podHead, p.json, nodes)
	if err != nil {
		return "", err
	}
	errText, err := w.readFilter(raw)
	if err != nil {
		return "", err
	}
	if errText != "" {
		return "", failf("filter %s: %s", p.name, errText)
	}
	if len(w.survivors) == 0 {
		return "", nil
	}
	if len(w.strangers) > 0 {
		return "", failf("filter %s: answered nodes not sent: %s", p.name, pyList(w.strangers, 3))
	}
	var node string
	if len(w.survivors) == 1 {
		node = cl.names[w.survivors[0]]
	} else {
		w.subset = cl.appendSubset(w.subset[:0], w.survivors)
		raw, err := w.post(t, verbPrioritize, "/prioritize", podHead, p.json, w.subset)
		if err != nil {
			return "", err
		}
		best, entries, err := w.readPriorities(raw)
		if err != nil {
			return "", err
		}
		if entries != len(w.survivors) {
			return "", failf("prioritize %s: %d entries for %d nodes", p.name, entries, len(w.survivors))
		}
		node = best
	}
	w.bind = append(w.bind[:0], p.bindHead...)
	if i, ok := cl.index[node]; ok {
		w.bind = append(w.bind, cl.encNames[i]...)
	} else {
		w.bind = appendJSONString(w.bind, node)
	}
	w.bind = append(w.bind, bindTail...)
	raw, err = w.post(t, verbBind, "/bind", w.bind)
	if err != nil {
		return "", err
	}
	errText, err = readError(raw)
	if err != nil {
		return "", err
	}
	if errText != "" {
		return "", &podFailed{
			msg:     fmt.Sprintf("bind %s to %s: %s", p.name, node, errText),
			refused: strings.Contains(errText, "no longer fits"),
		}
	}
	return node, nil
}

// readFilter reads an ExtenderFilterResult: its Error (as Python's truthiness
// sees it: "" for a missing, null, false, 0 or empty one) and, into
// w.survivors, the nodes that passed (NodeNames in node cache mode, the
// names of Nodes.items otherwise; the other field is ignored, as the Python
// driver ignores it), names it was not sent into w.strangers.
func (w *worker) readFilter(raw []byte) (string, error) {
	w.survivors = w.survivors[:0]
	w.strangers = w.strangers[:0]
	s := newScanner(raw)
	errText := ""
	survivor := func(name []byte) {
		if i, ok := w.cl.index[string(name)]; ok {
			w.survivors = append(w.survivors, i)
		} else {
			w.survivors = append(w.survivors, -1)
			w.strangers = append(w.strangers, string(name))
		}
	}
	err := s.object(func(key []byte) error {
		switch {
		case string(key) == "Error":
			text, err := truthyText(s)
			errText = text
			return err
		case string(key) == "NodeNames" && w.cl.nodeCache:
			if null, err := s.null(); null || err != nil {
				return err
			}
			return s.array(func() error {
				name, err := s.str()
				if err == nil {
					survivor(name)
				}
				return err
			})
		case string(key) == "Nodes" && !w.cl.nodeCache:
			if null, err := s.null(); null || err != nil {
				return err
			}
			return s.object(func(key []byte) error {
				if string(key) != "items" {
					return s.skip()
				}
				if null, err := s.null(); null || err != nil {
					return err
				}
				return s.array(func() error { return itemName(s, survivor) })
			})
		}
		return s.skip()
	})
	if err == nil {
		err = s.end()
	}
	return errText, err
}

// itemName reads one Node object for its metadata.name.
func itemName(s *scanner, found func([]byte)) error {
	seen := false
	err := s.object(func(key []byte) error {
		if string(key) != "metadata" {
			return s.skip()
		}
		return s.object(func(key []byte) error {
			if string(key) != "name" {
				return s.skip()
			}
			name, err := s.str()
			if err == nil {
				found(name)
				seen = true
			}
			return err
		})
	})
	if err == nil && !seen {
		err = errors.New("a Node in the answer without metadata.name")
	}
	return err
}

// readPriorities reads a HostPriorityList: the chosen host (the highest
// score; among equals the first, or a seeded random one) and the count.
func (w *worker) readPriorities(raw []byte) (string, int, error) {
	s := newScanner(raw)
	w.tied = w.tied[:0]
	var best []byte
	top := 0.0
	entries := 0
	err := s.array(func() error {
		var host []byte
		var score float64
		haveHost, haveScore := false, false
		err := s.object(func(key []byte) error {
			var err error
			switch string(key) {
			case "Host":
				host, err = s.str()
				haveHost = err == nil
			case "Score":
				score, err = s.number()
				haveScore = err == nil
			default:
				err = s.skip()
			}
			return err
		})
		if err != nil {
			return err
		}
		if !haveHost || !haveScore {
			return errNoEntry
		}
		entries++
		switch {
		case entries == 1 || score > top:
			top, best = score, host
			if w.random {
				w.tied = append(w.tied[:0], host)
			}
		case score == top && w.random:
			w.tied = append(w.tied, host)
		}
		return nil
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return "", 0, err
	}
	if entries == 0 {
		return "", 0, nil
	}
	if w.random && len(w.tied) > 1 {
		return string(w.tied[w.rng.IntN(len(w.tied))]), entries, nil
	}
	return string(best), entries, nil
}

// readError reads an ExtenderBindingResult's Error ("" when there is none).
func readError(raw []byte) (string, error) {
	s := newScanner(raw)
	errText := ""
	err := s.object(func(key []byte) error {
		if string(key) != "Error" {
			return s.skip()
		}
		text, err := truthyText(s)
		errText = text
		return err
	})
	if err == nil {
		err = s.end()
	}
	return errText, err
}

// truthyText reads a value: a non-empty string as it is, any other value
// Python would take as true as its JSON text, a false one as "".
func truthyText(s *scanner) (string, error) {
	if s.peek() == '"' {
		text, err := s.str()
		return string(text), err
	}
	raw, err := s.raw()
	if err != nil {
		return "", err
	}
	switch string(raw) {
	case "null", "false", "0", "[]", "{}":
		return "", nil
	}
	return string(raw), nil
}

// pyList formats the first max names as Python prints a list of str.
func pyList(names []string, max int) string {
	if len(names) > max {
		names = names[:max]
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "'" + strings.ReplaceAll(n, "'", `\'`) + "'"
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
