package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ---- the JSON scanner ---------------------------------------------------------

func TestStringsDecodeAsEncodingJSONDoes(t *testing.T) {
	cases := []string{
		`""`, `"node-00001"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u00e9\u4e2d"`,
		`"\ud83d\ude00"`, `"\ud83d"`, `"\ude00x"`, `"é中😀"`,
	}
	for _, c := range cases {
		var want string
		if err := json.Unmarshal([]byte(c), &want); err != nil {
			t.Fatalf("%s: encoding/json: %v", c, err)
		}
		got, err := newScanner([]byte(c)).str()
		if err != nil || string(got) != want {
			t.Errorf("str(%s) = %q, %v; want %q", c, got, err, want)
		}
	}
	for _, bad := range []string{`"abc`, `"a\qb"`, "\"a\x01b\"", `"\u12"`, `abc`} {
		if _, err := newScanner([]byte(bad)).str(); err == nil {
			t.Errorf("str(%q): no error", bad)
		}
	}
}

func TestAppendJSONStringMatchesOrjson(t *testing.T) {
	// orjson.dumps of the same str (control characters, quote, backslash, '/', DEL, é)
	in := "a\x00\x1f\b\t\n\f\r\"\\/\x7fé"
	want := `"a\u0000\u001f\b\t\n\f\r\"\\/` + "\x7fé\""
	if got := string(appendJSONString(nil, in)); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < 2000; k++ {
		runes := make([]rune, rng.IntN(12))
		for i := range runes {
			runes[i] = []rune{'a', '"', '\\', '\n', 0x01, 'é', '中', '/', 0x7f}[rng.IntN(9)]
		}
		s := string(runes)
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil || back != s {
			t.Fatalf("%q: round trip gave %q, %v", s, back, err)
		}
		got, err := newScanner(appendJSONString(nil, s)).str()
		if err != nil || string(got) != s {
			t.Fatalf("%q: scanner gave %q, %v", s, got, err)
		}
	}
}

func TestSkipAcceptsWhatEncodingJSONAcceptsHere(t *testing.T) {
	good := []string{
		`{}`, `[]`, `null`, `true`, `false`, `-1.5e3`, `0`, `"x"`,
		` { "a" : [ 1 , { "b" : null } ] , "c" : "\u0041" } `,
		`[[[[]]],{"":{}}]`,
	}
	for _, g := range good {
		s := newScanner([]byte(g))
		if err := s.skip(); err != nil {
			t.Errorf("skip(%s): %v", g, err)
		} else if err := s.end(); err != nil {
			t.Errorf("end after %s: %v", g, err)
		}
	}
	bad := []string{`{`, `[1,]`, `{"a" 1}`, `{"a":1,}`, `nul`, `tru`, `[1 2]`, `{1:2}`, ``, `]`}
	for _, b := range bad {
		s := newScanner([]byte(b))
		if err := s.skip(); err == nil {
			if err := s.end(); err == nil {
				t.Errorf("skip(%s): no error", b)
			}
		}
	}
	if err := newScanner([]byte(`{} x`)).skip(); err != nil {
		t.Fatal(err)
	}
	s := newScanner([]byte(`{} x`))
	_ = s.skip()
	if s.end() == nil {
		t.Error("trailing bytes after a value are an error")
	}
	deep := strings.Repeat("[", 2000) + strings.Repeat("]", 2000)
	if err := newScanner([]byte(deep)).skip(); !errors.Is(err, errDepth) {
		t.Errorf("deep nesting: %v", err)
	}
}

func TestNumbers(t *testing.T) {
	for text, want := range map[string]float64{
		"0": 0, "7": 7, "-3": -3, "10": 10, "7.0": 7, "1e1": 10, "-2.5": -2.5,
		"123456789012345678901": 123456789012345678901,
	} {
		got, err := newScanner([]byte(text)).number()
		if err != nil || got != want {
			t.Errorf("number(%s) = %v, %v; want %v", text, got, err, want)
		}
	}
	if _, err := newScanner([]byte("abc")).number(); err == nil {
		t.Error("number(abc): no error")
	}
}

// ---- request bodies -------------------------------------------------------------

func testCluster(nodeCache bool) *cluster {
	names := []string{"n1", "n2", "n3"}
	objs := [][]byte{
		[]byte(`{"metadata":{"name":"n1"}}`),
		[]byte(`{"metadata":{"name":"n2"}}`),
		[]byte(`{"metadata":{"name":"n3"}}`),
	}
	return newCluster(names, objs, nodeCache)
}

func TestBodiesAreThePythonDriversBytes(t *testing.T) {
	// bench/driver.py's _NodeBodies: all_nodes and subset()
	cl := testCluster(true)
	if got, want := string(cl.allNodes), `,"Nodes":null,"NodeNames":["n1","n2","n3"]}`; got != want {
		t.Errorf("node cache, all: %s", got)
	}
	if got, want := string(cl.appendSubset(nil, []int{2, 0})), `,"Nodes":null,"NodeNames":["n3","n1"]}`; got != want {
		t.Errorf("node cache, subset: %s", got)
	}
	full := testCluster(false)
	want := `,"Nodes":{"metadata":{},"items":[{"metadata":{"name":"n1"}},{"metadata":{"name":"n3"}}]},"NodeNames":null}`
	if got := string(full.appendSubset(nil, []int{0, 2})); got != want {
		t.Errorf("full Nodes, subset: %s", got)
	}
	whole := append(append([]byte(`{"Pod":`), `{"metadata":{"name":"p"}}`...), full.allNodes...)
	if !json.Valid(whole) {
		t.Errorf("a full /filter body is not JSON: %s", whole)
	}
}

func TestSampledFilterBodiesRotate(t *testing.T) {
	// bench/sampling.py's Sampling.window: pod i gets size nodes from (i*size) mod n,
	// wrapping; pods 0, every, 2*every carry every node.
	names := []string{"a", "b", "c", "d", "e"}
	objs := make([][]byte, len(names))
	for i, n := range names {
		objs[i] = []byte(fmt.Sprintf(`{"metadata":{"name":%q}}`, n))
	}
	cl := newCluster(names, objs, true)
	cl.sample(2, 3)
	want := map[int]string{
		0: `["a","b","c","d","e"]`, 1: `["c","d"]`, 2: `["e","a"]`, 3: `["a","b","c","d","e"]`,
		4: `["d","e"]`, 7: `["e","a"]`, 8: `["b","c"]`,
	}
	w := newWorker(nil, cl, "first", 1, 0)
	for i, names := range want {
		got := cl.allNodes
		if cl.sampled(i) {
			w.windowIdx = cl.windowOf(w.windowIdx, i)
			got = cl.appendSubset(nil, w.windowIdx)
		}
		if exp := `,"Nodes":null,"NodeNames":` + names + "}"; string(got) != exp {
			t.Errorf("pod %d: %s, want %s", i, got, exp)
		}
	}
	whole := newCluster(names, objs, true)
	whole.sample(5, 3) // a window of every node is no sample
	if whole.sampled(1) {
		t.Error("a window as large as the cluster samples")
	}
}

func TestPodMetadataAndBindBody(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pods.jsonl")
	content := `{"metadata":{"name":"a","namespace":"shop","uid":"u1","labels":{"x":"y"}},"spec":{}}` + "\n" +
		`{"kind":"Pod","metadata":{"uid":"u2","name":"b\u00e9"}}` + "\n\n" +
		`{"metadata":{"name":"c","uid":"u3"}}` + "\n"
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	pods, err := loadPods(file, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 2 || pods[0].name != "a" || pods[1].name != "bé" {
		t.Fatalf("pods: %+v", pods)
	}
	// orjson.dumps({"PodName": ..., "PodNamespace": ..., "PodUID": ..., "Node": ...})
	if got := string(pods[0].bindHead); got != `{"PodName":"a","PodNamespace":"shop","PodUID":"u1","Node":` {
		t.Errorf("bind head: %s", got)
	}
	if got := string(pods[1].bindHead); got != `{"PodName":"bé","PodNamespace":"default","PodUID":"u2","Node":` {
		t.Errorf("bind head without a namespace: %s", got)
	}
	if _, err := loadPods(file, 5); err == nil {
		t.Error("-count beyond the file: no error")
	}
	if err := os.WriteFile(file, []byte(`{"metadata":{"name":"a"}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPods(file, -1); err == nil || !strings.Contains(err.Error(), "uid") {
		t.Errorf("a pod without a uid: %v", err)
	}
}

// ---- reading answers --------------------------------------------------------------

func TestReadFilterNodeCache(t *testing.T) {
	w := newWorker(nil, testCluster(true), "first", 1, 0)
	errText, err := w.readFilter([]byte(`{"Nodes":null,"NodeNames":["n3","n1"],"FailedNodes":{"n2":"x"},"Error":""}`))
	if err != nil || errText != "" || !reflect.DeepEqual(w.survivors, []int{2, 0}) {
		t.Errorf("got %v %q %v", w.survivors, errText, err)
	}
	_, _ = w.readFilter([]byte(`{"NodeNames":["n1","zz","yy"]}`))
	if !reflect.DeepEqual(w.strangers, []string{"zz", "yy"}) {
		t.Errorf("strangers %v", w.strangers)
	}
	errText, _ = w.readFilter([]byte(`{"NodeNames":null,"Error":"not synced"}`))
	if errText != "not synced" || len(w.survivors) != 0 {
		t.Errorf("error answer: %q %v", errText, w.survivors)
	}
	// in node cache mode the driver reads NodeNames only
	_, _ = w.readFilter([]byte(`{"Nodes":{"items":[{"metadata":{"name":"n1"}}]},"NodeNames":null}`))
	if len(w.survivors) != 0 {
		t.Errorf("Nodes read in node cache mode: %v", w.survivors)
	}
	for _, bad := range []string{`[]`, `{"NodeNames":[1]}`, `{"NodeNames":["n1"]`, `{} {}`} {
		if _, err := w.readFilter([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestReadFilterFullNodes(t *testing.T) {
	w := newWorker(nil, testCluster(false), "first", 1, 0)
	answer := `{"Nodes":{"metadata":{},"items":[{"metadata":{"name":"n2","labels":{}},"spec":{}},{"metadata":{"name":"n1"}}]},"NodeNames":null,"Error":""}`
	if _, err := w.readFilter([]byte(answer)); err != nil || !reflect.DeepEqual(w.survivors, []int{1, 0}) {
		t.Errorf("got %v %v", w.survivors, err)
	}
	if _, err := w.readFilter([]byte(`{"Nodes":{"items":[{"metadata":{}}]}}`)); err == nil {
		t.Error("a Node without a name: no error")
	}
	if _, err := w.readFilter([]byte(`{"Nodes":null}`)); err != nil || len(w.survivors) != 0 {
		t.Errorf("null Nodes: %v %v", w.survivors, err)
	}
}

func TestErrorTruthiness(t *testing.T) {
	for answer, want := range map[string]string{
		`{"Error":""}`: "", `{}`: "", `{"Error":null}`: "", `{"Error":false}`: "",
		`{"Error":"no room"}`: "no room", `{"Error":{"a":1}}`: `{"a":1}`,
	} {
		got, err := readError([]byte(answer))
		if err != nil || got != want {
			t.Errorf("readError(%s) = %q, %v; want %q", answer, got, err, want)
		}
	}
}

func TestBestScoreFirstAndRandom(t *testing.T) {
	w := newWorker(nil, testCluster(true), "first", 1, 0)
	answer := []byte(`[{"Host":"a","Score":3},{"Host":"b","Score":7},{"Score":7,"Host":"c"},{"Host":"d","Score":1}]`)
	best, n, err := w.readPriorities(answer)
	if err != nil || best != "b" || n != 4 {
		t.Errorf("first: %q %d %v", best, n, err)
	}
	r := newWorker(nil, testCluster(true), "random", 1, 0)
	seen := map[string]int{}
	for k := 0; k < 400; k++ {
		best, _, err := r.readPriorities(answer)
		if err != nil {
			t.Fatal(err)
		}
		seen[best]++
	}
	if len(seen) != 2 || seen["b"] < 100 || seen["c"] < 100 {
		t.Errorf("random ties between b and c: %v", seen)
	}
	// the same seed and goroutine index give the same choices
	a1, a2 := newWorker(nil, testCluster(true), "random", 5, 1), newWorker(nil, testCluster(true), "random", 5, 1)
	for k := 0; k < 50; k++ {
		x, _, _ := a1.readPriorities(answer)
		y, _, _ := a2.readPriorities(answer)
		if x != y {
			t.Fatal("same seed, different choices")
		}
	}
	if _, _, err := w.readPriorities([]byte(`[{"Host":"a"}]`)); err == nil {
		t.Error("an entry without a Score: no error")
	}
	if _, n, err := w.readPriorities([]byte(`[]`)); err != nil || n != 0 {
		t.Errorf("empty list: %d %v", n, err)
	}
}

func TestPythonReprs(t *testing.T) {
	// repr() in Python of the same values
	for in, want := range map[string]string{
		`{"Error":"x"}`:          `b'{"Error":"x"}'`,
		"a'b":                    `b"a'b"`,
		"a'b\"":                  `b'a\'b"'`,
		"\x00\x7f\xff\t\n\r\\ok": `b'\x00\x7f\xff\t\n\r\\ok'`,
	} {
		if got := pyBytesRepr([]byte(in)); got != want {
			t.Errorf("pyBytesRepr(%q) = %s, want %s", in, got, want)
		}
	}
	if got := pyList([]string{"a", "b", "c", "d"}, 3); got != "['a', 'b', 'c']" {
		t.Errorf("pyList: %s", got)
	}
}

// ---- HTTP ---------------------------------------------------------------------------

func TestRequestHeadIsHTTPClients(t *testing.T) {
	got := string(appendRequestHead(nil, "127.0.0.1:8888", "/filter", 42))
	want := "POST /filter HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nAccept-Encoding: identity\r\n" +
		"Content-Length: 42\r\nContent-Type: application/json\r\nAccept: application/json\r\n\r\n"
	if got != want {
		t.Errorf("got %q", got)
	}
}

func parse(raw string) (int, bool, string, error) {
	var body []byte
	status, keep, err := readResponse(bufio.NewReader(strings.NewReader(raw)), &body)
	return status, keep, string(body), err
}

func TestReadResponse(t *testing.T) {
	status, keep, body, err := parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhelloEXTRA")
	if err != nil || status != 200 || !keep || body != "hello" {
		t.Errorf("content-length: %d %v %q %v", status, keep, body, err)
	}
	status, keep, body, err = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n")
	if err != nil || status != 200 || !keep || body != "abcde" {
		t.Errorf("chunked: %d %v %q %v", status, keep, body, err)
	}
	_, keep, _, _ = parse("HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 0\r\n\r\n")
	if keep {
		t.Error("Connection: close kept")
	}
	_, keep, body, _ = parse("HTTP/1.0 500 Oops\r\n\r\nto the end")
	if keep || body != "to the end" {
		t.Errorf("HTTP/1.0 without a length: %v %q", keep, body)
	}
	for _, raw := range []string{"", "garbage\r\n", "HTTP/1.1 2x\r\n"} {
		if _, _, _, err := parse(raw); !isRetryable(err) {
			t.Errorf("%q: %v is not retryable", raw, err)
		}
	}
	if _, _, _, err := parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"); err == nil || isRetryable(err) {
		t.Errorf("a body cut short: %v (must fail, not be retried)", err)
	}
}

// A keep-alive server that closes every connection after one answer without
// saying so: each later request finds its connection gone and reconnects once.
func TestReconnectsOnceWhenTheServerDropsTheConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				body, _ := io.ReadAll(req.Body)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			}(c)
		}
	}()
	conn := newHTTPConn(ln.Addr().String(), 5*time.Second)
	defer conn.close()
	for k := 0; k < 3; k++ {
		want := fmt.Sprintf(`{"n":%d}`, k)
		got, err := conn.post("/echo", []byte(want[:3]), []byte(want[3:]))
		if err != nil || string(got) != want {
			t.Fatalf("post %d: %q %v", k, got, err)
		}
		time.Sleep(20 * time.Millisecond) // let the close arrive
	}
	if conn.reconnects < 1 {
		t.Errorf("reconnects = %d", conn.reconnects)
	}
}

func TestRefusedTwiceFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conn := newHTTPConn(addr, time.Second)
	if _, err := conn.post("/filter", []byte("{}")); err == nil {
		t.Fatal("no error from a closed port")
	}
	if conn.reconnects != 1 {
		t.Errorf("reconnects = %d, want 1 (one retry)", conn.reconnects)
	}
}

// ---- the whole conversation against a fake extender ------------------------------------

type fakeExtender struct {
	binds   atomic.Int64
	refused atomic.Int64 // binds of "refused" refused so far
}

func (f *fakeExtender) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var args struct {
		Pod struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
		NodeNames []string
		PodName   string
		Node      string
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &args); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	name := args.Pod.Metadata.Name
	switch r.URL.Path {
	case "/filter":
		switch name {
		case "err":
			fmt.Fprint(w, `{"NodeNames":null,"Error":"cache not synced"}`)
		case "none":
			fmt.Fprint(w, `{"NodeNames":[],"Error":""}`)
		case "stranger":
			fmt.Fprint(w, `{"NodeNames":["n1","zz"],"Error":""}`)
		case "one":
			fmt.Fprint(w, `{"NodeNames":["n2"],"Error":""}`)
		default:
			out, _ := json.Marshal(map[string]any{"NodeNames": args.NodeNames, "Error": ""})
			w.Write(out)
		}
	case "/prioritize":
		if name == "boom" {
			http.Error(w, `{"Error":"boom"}`, 500)
			return
		}
		entries := []string{}
		for i, n := range args.NodeNames {
			entries = append(entries, fmt.Sprintf(`{"Host":%q,"Score":%d}`, n, i%2))
		}
		fmt.Fprintf(w, "[%s]", strings.Join(entries, ","))
	case "/bind":
		if args.PodName == "nobind" {
			fmt.Fprint(w, `{"Error":"no room"}`)
			return
		}
		// refused once (another scheduler's bind came first), then bound; stale: always
		if (args.PodName == "refused" && f.refused.Add(1) == 1) || args.PodName == "stale" {
			fmt.Fprintf(w, `{"Error":"pod %s no longer fits on %s: skew"}`, args.PodName, args.Node)
			return
		}
		f.binds.Add(1)
		fmt.Fprint(w, `{"Error":""}`)
	}
}

func TestRunAgainstAFakeExtender(t *testing.T) {
	srv := httptest.NewServer(&fakeExtender{})
	defer srv.Close()
	_, portText, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portText)
	dir := t.TempDir()
	var nodes, pods bytes.Buffer
	for _, n := range []string{"n1", "n2", "n3"} {
		fmt.Fprintf(&nodes, `{"metadata":{"name":%q}}`+"\n", n)
	}
	names := []string{"ok", "err", "none", "stranger", "one", "boom", "nobind", "ok2", "refused", "stale"}
	for i, n := range names {
		fmt.Fprintf(&pods, `{"metadata":{"name":%q,"uid":"u%d"}}`+"\n", n, i)
	}
	nodesFile, podsFile, out := filepath.Join(dir, "n"), filepath.Join(dir, "p"), filepath.Join(dir, "out.json")
	os.WriteFile(nodesFile, nodes.Bytes(), 0o644)
	os.WriteFile(podsFile, pods.Bytes(), 0o644)
	var stderr bytes.Buffer
	args := []string{"-port", strconv.Itoa(port), "-nodes", nodesFile, "-pods", podsFile,
		"-out", out, "-progress", "3"}
	if code := mainWith(args, io.Discard, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res result
	data, _ := os.ReadFile(out)
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	placed := map[int]string{}
	for k, i := range res.PlacedIndex {
		placed[i] = res.PlacedNode[k]
	}
	// scores 0,1,0: the best is the second node sent; "one" needs no prioritize
	if !reflect.DeepEqual(placed, map[int]string{0: "n2", 4: "n2", 7: "n2", 8: "n2"}) {
		t.Errorf("placements %v", placed)
	}
	// "refused" went round once more and was bound; "stale" went round bindRetries
	// more times and failed; "nobind"'s refusal is not a node that no longer fits
	if res.Rebinds != 1+bindRetries {
		t.Errorf("rebinds %d, want %d", res.Rebinds, 1+bindRetries)
	}
	if res.Unschedulable != 1 || res.ErrorCount != 5 {
		t.Errorf("unschedulable %d, errors %d: %v", res.Unschedulable, res.ErrorCount, res.Errors)
	}
	wantErrors := []string{
		"filter err: cache not synced",
		"filter stranger: answered nodes not sent: ['zz']",
		`boom: POST /prioritize: HTTP 500: b'{"Error":"boom"}\n'`,
		"bind nobind to n2: no room",
		"bind stale to n2: pod stale no longer fits on n2: skew",
	}
	if !reflect.DeepEqual(res.Errors, wantErrors) {
		t.Errorf("errors:\n%q\nwant\n%q", res.Errors, wantErrors)
	}
	if res.LatencyNs["prioritize"][4] != -1 || res.LatencyNs["filter"][4] <= 0 || res.LatencyNs["bind"][2] != -1 {
		t.Errorf("latencies: %v", res.LatencyNs)
	}
	for i, d := range res.DoneNs {
		if d <= 0 {
			t.Errorf("pod %d: done %d", i, d)
		}
	}
	if !strings.Contains(stderr.String(), "progress 3\nprogress 6\nprogress 9\nprogress 10\n") {
		t.Errorf("progress lines: %q", stderr.String())
	}
	if res.CPU.UserNs+res.CPU.SysNs <= 0 || res.WallNs <= 0 {
		t.Errorf("cpu %+v wall %d", res.CPU, res.WallNs)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{}, {"-port", "1"}, {"-port", "1", "-nodes", "a", "-pods", "b", "-tie-break", "best"},
		{"-port", "1", "-nodes", "a", "-pods", "b", "-concurrency", "0"},
		{"-port", "1", "-nodes", "a", "-pods", "b", "extra"},
		{"-port", "1", "-nodes", "a", "-pods", "b", "-sample-size", "-1"},
	} {
		if code := mainWith(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	var out bytes.Buffer
	if code := mainWith([]string{"-version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "podsift replay") {
		t.Errorf("-version: %d %q", code, out.String())
	}
}
