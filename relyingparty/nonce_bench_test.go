//go:build linux

package relyingparty

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/redistest"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sys/unix"
)

// The environment of a nonce bench worker: this test binary re-executed
// as one verifier process.
const (
	workerStoreEnv = "EIDLINK_NONCE_BENCH_STORE" // "memory" or a Redis address
	workerDirEnv   = "EIDLINK_NONCE_BENCH_DIR"   // key.pem, card.der, ca.der; consumed-*.json
	workerCountEnv = "EIDLINK_NONCE_BENCH_N"     // logins to verify
	workerIDEnv    = "EIDLINK_NONCE_BENCH_ID"    // its number, and its core
)

func TestMain(m *testing.M) {
	if os.Getenv(workerStoreEnv) != "" {
		if err := benchWorker(); err != nil {
			fmt.Fprintln(os.Stderr, "nonce bench worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkNonceStores measures what sharing the nonce store buys: a site
// that keeps its nonces in memory can run one verifier process, one that
// keeps them in Redis can run several side by side. It compares two
// verifier processes sharing one redis-server with one process using the
// in-memory store. Each verifier process stands for one instance behind a
// load balancer with a core of its own: GOMAXPROCS=1 and pinned to one
// core (sched_setaffinity, once its tokens are made), the in-memory one
// to core 0, the Redis ones to cores 0 and 1. redis-server, which a real
// site would run elsewhere, is not
// pinned: it takes its CPU from the verifiers' two cores, and so counts
// against Redis here. Each process verifies its logins (a full
// VerifyChallenge of a fresh token each) inFlight at a time, as a loaded
// instance serves many users at once.
//
// redis2/memory1 is the ratio of logins per second of wall-clock time,
// the median of 5 rounds' (redis2/memory1-min the lowest), each round a
// run of each (and of the ceiling below) in turns. The Redis verifiers
// are timed side by side: when the first has verified its logins, the
// other stops taking new ones (and verifies the rest untimed), so that
// the throughput of two instances is not that of one left alone at the
// end (a load balancer keeps both busy). Then, each round, both Redis
// processes replay at the same time every token either of them accepted
// (10,000 replays a round): replays-accepted must be 0.
//
// memory2/memory1 is the machine's own ceiling for that ratio: two
// verifier processes, each with an in-memory store of its own (which no
// real site could share), against one, measured in the same rounds. A
// store that costs nothing reaches it; on a virtual machine whose host
// does not give two full cores it can be well below 2.
//
// The other metrics say where the time goes: *-verifier-us/login is a
// verifier's CPU time per login, redis-us/login redis-server's;
// redis2/memory1-cpu is two cores over what a login costs the Redis
// verifier and redis-server together, against one core over what it costs
// the in-memory verifier, as if nothing else ran; verifier-busy is the
// share of the wall-clock time the Redis verifiers were on a core (below 1
// while they wait for Redis or for a core); other-cores is the CPU that
// other processes of the machine took during the rounds reported, in
// cores: above about 0.1 the machine was not quiet and the wall-clock
// ratio says more about it than about the store. A virtual machine's
// cores can also be slowed by its host, unseen from inside: the same
// verifier then spends more CPU time per login (on the two-core VM this
// was written on, anywhere from 80 to 150 us).
func BenchmarkNonceStores(b *testing.B) {
	const perWorker = 2500 // 2 × 2500 logins, then 10,000 replays
	p := getPKI()
	dir := b.TempDir()
	key, err := x509.MarshalPKCS8PrivateKey(p.rsaKey)
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	os.WriteFile(filepath.Join(dir, "card.der"), p.cie.Raw, 0o600)
	os.WriteFile(filepath.Join(dir, "ca.der"), p.ca.Raw, 0o600)
	srv := redistest.Start(b)
	for b.Loop() {
		// Rounds of one run of each, in alternating order; each metric is
		// the median over the rounds, the ratios the median of each
		// round's: a virtual machine's cores change speed from one second
		// to the next, and the two runs of a round share the moment.
		var memory, shared []workerRun
		var ratio, cpuRatio, ceiling []float64
		replays, accepted := 0, 0
		for i := range rounds {
			var m, s, m2 workerRun
			for k := range 3 {
				switch (i + k) % 3 {
				case 0:
					m = runWorkers(b, dir, "memory", 1, 2*perWorker)
				case 1:
					s = runWorkers(b, dir, srv.Addr, 2, perWorker)
				case 2:
					m2 = runWorkers(b, dir, "memory", 2, perWorker)
				}
			}
			memory, shared = append(memory, m), append(shared, s)
			ratio = append(ratio, s.perSecond/m.perSecond)
			ceiling = append(ceiling, m2.perSecond/m.perSecond)
			cpuRatio = append(cpuRatio, 2*float64(m.cpuPerLogin)/float64(s.cpuPerLogin+s.redisPerLogin))
			replays, accepted = replays+s.replays, accepted+s.accepted
		}
		med := func(rs []workerRun, f func(workerRun) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			return median(v)
		}
		b.ReportMetric(median(cpuRatio), "redis2/memory1-cpu")
		b.ReportMetric(med(memory, func(r workerRun) float64 { return us(r.cpuPerLogin) }), "memory-verifier-us/login")
		b.ReportMetric(med(shared, func(r workerRun) float64 { return us(r.cpuPerLogin) }), "redis-verifier-us/login")
		b.ReportMetric(med(shared, func(r workerRun) float64 { return us(r.redisPerLogin) }), "redis-us/login")
		b.ReportMetric(med(shared, func(r workerRun) float64 { return r.busy }), "verifier-busy")
		b.ReportMetric(med(append(memory, shared...), func(r workerRun) float64 { return r.otherCores }), "other-cores")
		b.ReportMetric(med(memory, func(r workerRun) float64 { return r.perSecond }), "memory-logins/s")
		b.ReportMetric(med(shared, func(r workerRun) float64 { return r.perSecond }), "redis-logins/s")
		b.ReportMetric(median(ratio), "redis2/memory1")
		b.ReportMetric(slices.Min(ratio), "redis2/memory1-min")
		b.ReportMetric(median(ceiling), "memory2/memory1")
		b.ReportMetric(float64(replays), "replays")
		b.ReportMetric(float64(accepted), "replays-accepted")
	}
}

// inFlight is how many logins a bench verifier has under way at a time.
const inFlight = 32

// rounds is how many runs of each the nonce bench takes, in turns.
const rounds = 5

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

type workerRun struct {
	perSecond     float64
	cpuPerLogin   time.Duration // the verifiers' CPU time over the logins
	redisPerLogin time.Duration // redis-server's
	busy          float64       // CPU time / (wall-clock time × workers)
	otherCores    float64       // CPU time of other processes / wall-clock time
	replays       int
	accepted      int
}

// redisCPU is the CPU time redis-server at addr has used, as INFO cpu
// reports it, or 0 if addr is "memory".
func redisCPU(b *testing.B, addr string) time.Duration {
	if addr == "memory" {
		return 0
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			s, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu: %q", line)
			}
			total += s
		}
	}
	return time.Duration(total * float64(time.Second))
}

// machineCPU is the CPU time the machine has spent on anything but
// idling, the time its hypervisor took included (/proc/stat, in ticks of
// 10 ms).
func machineCPU(b *testing.B) time.Duration {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		b.Fatalf("/proc/stat begins %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			b.Fatalf("/proc/stat begins %q", line)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// runWorkers starts n verifier processes, worker i pinned to core i, each
// verifying count logins when told to, and then has them replay every
// consumed token at once.
func runWorkers(b *testing.B, dir, store string, n, count int) workerRun {
	if runtime.NumCPU() < n {
		b.Skipf("%d verifier processes need a core each; this machine has %d", n, runtime.NumCPU())
	}
	type worker struct {
		cmd   *exec.Cmd
		in    io.WriteCloser
		lines chan string // what it prints, line by line
	}
	old, _ := filepath.Glob(filepath.Join(dir, "consumed-*.json"))
	for _, f := range old {
		os.Remove(f)
	}
	ws := make([]worker, n)
	for i := range ws {
		cmd := exec.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), workerStoreEnv+"="+store, workerDirEnv+"="+dir,
			workerCountEnv+"="+strconv.Itoa(count), workerIDEnv+"="+strconv.Itoa(i))
		cmd.Stderr = os.Stderr
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		lines := make(chan string, 4)
		go func() {
			defer close(lines)
			for sc := bufio.NewScanner(out); sc.Scan(); {
				lines <- sc.Text()
			}
		}()
		ws[i] = worker{cmd, in, lines}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	// next reads worker i's next line, which must start with want.
	next := func(i int, want string) string {
		l, ok := <-ws[i].lines
		if !ok || !strings.HasPrefix(l, want) {
			b.Fatalf("worker %d: got %q, want %s (stderr above)", i, l, want)
		}
		return strings.TrimPrefix(l, want)
	}
	expect := func(want string) []string {
		lines := make([]string, n)
		for i := range ws {
			lines[i] = next(i, want)
		}
		return lines
	}
	tell := func(cmd string) {
		for _, w := range ws {
			io.WriteString(w.in, cmd+"\n")
		}
	}
	expect("ready")
	redisBefore, machineBefore, start := redisCPU(b, store), machineCPU(b), time.Now()
	tell("go")
	// The logins per second of the verifiers side by side: once the first
	// is done, the others stop taking logins, so that none runs alone.
	done := make([]string, n)
	first := -1
	cases := make([]reflect.SelectCase, n)
	for i, w := range ws {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w.lines)}
	}
	if i, l, ok := reflect.Select(cases); ok && strings.HasPrefix(l.String(), "done ") {
		first, done[i] = i, strings.TrimPrefix(l.String(), "done ")
	} else {
		b.Fatalf("worker %d: got %q, want done (stderr above)", i, l)
	}
	tell("stop")
	for i := range ws {
		if i != first {
			done[i] = next(i, "done ")
		}
	}
	elapsed, machine, redisUsed := time.Since(start), machineCPU(b)-machineBefore, redisCPU(b, store)-redisBefore
	var r workerRun
	var slowest, cpu, wall time.Duration
	logins := 0
	for _, l := range done {
		var w, c string
		var k int
		fmt.Sscanf(l, "%s %s %d", &w, &c, &k)
		d, err1 := time.ParseDuration(w)
		u, err2 := time.ParseDuration(c)
		if err1 != nil || err2 != nil || k <= 0 {
			b.Fatalf("worker said done %q", l)
		}
		slowest, cpu, wall, logins = max(slowest, d), cpu+u, wall+d, logins+k
	}
	r.perSecond = float64(logins) / slowest.Seconds()
	r.cpuPerLogin = cpu / time.Duration(logins)
	r.redisPerLogin = redisUsed / time.Duration(logins)
	r.busy = float64(cpu) / float64(wall)
	r.otherCores = max(0, float64(machine-cpu-redisUsed)/float64(elapsed))
	expect("saved")
	tell("replay")
	for _, l := range expect("replayed ") {
		var k, a int
		fmt.Sscanf(l, "%d accepted %d", &k, &a)
		r.replays += k
		r.accepted += a
	}
	for _, w := range ws {
		if err := w.cmd.Wait(); err != nil {
			b.Fatalf("worker: %v", err)
		}
	}
	return r
}

// benchWorker is one verifier process: it issues its nonces and signs
// their tokens and says "ready"; told "go", it verifies them until all
// are verified or it is told "stop" (another worker is done), says "done
// <time> <CPU time> <logins verified>"; after "stop" it verifies the rest,
// untimed, saves them all and says "saved"; told "replay" it presents
// every worker's tokens again and says "replayed <count> accepted
// <count>".
func benchWorker() error {
	dir := os.Getenv(workerDirEnv)
	count, _ := strconv.Atoi(os.Getenv(workerCountEnv))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "key.pem"))
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		return fmt.Errorf("no key in %s", dir)
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return err
	}
	card, err := x509.ParseCertificate(mustRead(filepath.Join(dir, "card.der")))
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(mustRead(filepath.Join(dir, "ca.der")))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	v, err := New(Config{Roots: roots})
	if err != nil {
		return err
	}
	var store NonceStore = NewMemoryNonceStore(0)
	if addr := os.Getenv(workerStoreEnv); addr != "memory" {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		store = NewRedisNonceStore(c, 0, "eidlink-bench:nonce:")
	}
	ctx := context.Background()
	type login struct{ Nonce, Token string }
	logins := make([]login, count)
	var wg sync.WaitGroup
	errs := make([]error, runtime.NumCPU())
	for g := range errs { // on every core: the signatures are the slow part
		wg.Go(func() {
			for i := g; i < count && errs[g] == nil; i += len(errs) {
				var n string
				var tok []byte
				if n, errs[g] = store.Issue(ctx); errs[g] == nil {
					tok, errs[g] = makeToken(card, key.(*rsa.PrivateKey), testOrigin, n)
				}
				logins[i] = login{n, string(tok)}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	core, _ := strconv.Atoi(os.Getenv(workerIDEnv))
	if err := pin(core); err != nil {
		return err
	}
	cmds := make(chan string)
	go func() {
		for in := bufio.NewScanner(os.Stdin); in.Scan(); {
			cmds <- in.Text()
		}
		close(cmds)
	}()
	fmt.Println("ready")
	<-cmds // go

	// verify runs logins, inFlight at a time, until all ran or stop is
	// set, and returns how many ran and how many were accepted: the ones
	// that ran are ls[:ran].
	verify := func(ls []login, stop *atomic.Bool) (ran, accepted int) {
		var next, ok atomic.Int64
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				for !stop.Load() {
					i := int(next.Add(1)) - 1
					if i >= len(ls) {
						return
					}
					if _, err := v.VerifyChallenge(ctx, store, []byte(ls[i].Token), testOrigin, ls[i].Nonce); err == nil {
						ok.Add(1)
					}
				}
			})
		}
		wg.Wait()
		return min(int(next.Load()), len(ls)), int(ok.Load())
	}
	var stop atomic.Bool
	stopped := make(chan struct{})
	go func() {
		<-cmds // stop: another verifier is done
		stop.Store(true)
		close(stopped)
	}()
	start, startCPU := time.Now(), cpuTime()
	ran, ok := verify(logins, &stop)
	if ok != ran {
		return fmt.Errorf("%d of %d logins accepted", ok, ran)
	}
	fmt.Println("done", time.Since(start), cpuTime()-startCPU, ran)
	<-stopped
	// The rest, untimed, so that every login is there to replay.
	if rest, ok := verify(logins[ran:], new(atomic.Bool)); ok != rest {
		return fmt.Errorf("%d of %d logins accepted", ok, rest)
	}
	saved, _ := json.Marshal(logins)
	if err := os.WriteFile(filepath.Join(dir, "consumed-"+os.Getenv(workerIDEnv)+".json"), saved, 0o600); err != nil {
		return err
	}
	fmt.Println("saved")
	<-cmds // replay

	var replays []login
	files, _ := filepath.Glob(filepath.Join(dir, "consumed-*.json"))
	for _, f := range files {
		var ls []login
		if err := json.Unmarshal(mustRead(f), &ls); err != nil {
			return err
		}
		replays = append(replays, ls...)
	}
	_, accepted := verify(replays, new(atomic.Bool))
	fmt.Println("replayed", len(replays), "accepted", accepted)
	return nil
}

// pin makes this process a verifier with one core: GOMAXPROCS=1, and
// every thread bound to core (threads started later inherit it).
func pin(core int) error {
	runtime.GOMAXPROCS(1)
	var set unix.CPUSet
	set.Set(core)
	done := map[int]bool{}
	for {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		pinned := 0
		for _, t := range tasks {
			tid, _ := strconv.Atoi(t.Name())
			if done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("pinning thread %d to core %d: %w", tid, core, err)
			}
			done[tid], pinned = true, pinned+1
		}
		if pinned == 0 { // no thread started meanwhile
			return nil
		}
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return b
}
