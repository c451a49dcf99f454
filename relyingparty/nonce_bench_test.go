package relyingparty

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/redistest"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// The environment of a nonce bench worker: this test binary re-executed
// as one verifier process.
const (
	workerStoreEnv = "EIDLINK_NONCE_BENCH_STORE" // "memory" or a Redis address
	workerDirEnv   = "EIDLINK_NONCE_BENCH_DIR"   // key.pem, card.der, ca.der; consumed-*.json
	workerCountEnv = "EIDLINK_NONCE_BENCH_N"     // logins to verify
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
// core (taskset), the in-memory one to core 0, the Redis ones to cores 0
// and 1. redis-server, which a real site would run elsewhere, is not
// pinned: it takes its CPU from the verifiers' two cores, and so counts
// against Redis here. Each process verifies its logins (a full
// VerifyChallenge of a fresh token each) inFlight at a time, as a loaded
// instance serves many users at once.
//
// redis2/memory1 is the ratio of logins per second of wall-clock time,
// the best of 3 rounds taken in turns. Then, each round, both Redis
// processes replay at the same time every token either of them accepted
// (10,000 replays a round): replays-accepted must be 0.
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
		// The best of 3 rounds, taken in turns, so that a burst of other
		// load on the machine does not decide the ratio.
		var memory, shared workerRun
		replays, accepted := 0, 0
		for range 3 {
			if m := runWorkers(b, dir, "memory", 1, 2*perWorker); m.perSecond > memory.perSecond {
				memory = m
			}
			s := runWorkers(b, dir, srv.Addr, 2, perWorker)
			replays, accepted = replays+s.replays, accepted+s.accepted
			if s.perSecond > shared.perSecond {
				shared = s
			}
		}
		b.ReportMetric(2*float64(memory.cpuPerLogin)/float64(shared.cpuPerLogin+shared.redisPerLogin), "redis2/memory1-cpu")
		b.ReportMetric(us(memory.cpuPerLogin), "memory-verifier-us/login")
		b.ReportMetric(us(shared.cpuPerLogin), "redis-verifier-us/login")
		b.ReportMetric(us(shared.redisPerLogin), "redis-us/login")
		b.ReportMetric(shared.busy, "verifier-busy")
		b.ReportMetric(max(memory.otherCores, shared.otherCores), "other-cores")
		b.ReportMetric(memory.perSecond, "memory-logins/s")
		b.ReportMetric(shared.perSecond, "redis-logins/s")
		b.ReportMetric(shared.perSecond/memory.perSecond, "redis2/memory1")
		b.ReportMetric(float64(replays), "replays")
		b.ReportMetric(float64(accepted), "replays-accepted")
	}
}

// inFlight is how many logins a bench verifier has under way at a time.
const inFlight = 32

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
	testenv.NeedCommand(b, "taskset", "util-linux")
	if runtime.NumCPU() < n {
		b.Skipf("%d verifier processes need a core each; this machine has %d", n, runtime.NumCPU())
	}
	type worker struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Scanner
	}
	old, _ := filepath.Glob(filepath.Join(dir, "consumed-*.json"))
	for _, f := range old {
		os.Remove(f)
	}
	ws := make([]worker, n)
	for i := range ws {
		cmd := exec.Command("taskset", "--cpu-list", strconv.Itoa(i), os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1", workerStoreEnv+"="+store, workerDirEnv+"="+dir,
			workerCountEnv+"="+strconv.Itoa(count), "EIDLINK_NONCE_BENCH_ID="+strconv.Itoa(i))
		cmd.Stderr = os.Stderr
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		ws[i] = worker{cmd, in, bufio.NewScanner(out)}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	// expect reads one line from each worker; tell sends them all cmd.
	expect := func(want string) []string {
		lines := make([]string, n)
		for i, w := range ws {
			if !w.out.Scan() || !strings.HasPrefix(w.out.Text(), want) {
				b.Fatalf("worker %d: got %q, want %s (stderr above)", i, w.out.Text(), want)
			}
			lines[i] = strings.TrimPrefix(w.out.Text(), want)
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
	done := expect("done ")
	elapsed, machine, redisUsed := time.Since(start), machineCPU(b)-machineBefore, redisCPU(b, store)-redisBefore
	var r workerRun
	var slowest, cpu, wall time.Duration
	for _, l := range done {
		w, c, _ := strings.Cut(l, " ")
		d, err1 := time.ParseDuration(w)
		u, err2 := time.ParseDuration(c)
		if err1 != nil || err2 != nil {
			b.Fatalf("worker said done %q", l)
		}
		slowest, cpu, wall = max(slowest, d), cpu+u, wall+d
	}
	r.perSecond = float64(n*count) / slowest.Seconds()
	r.cpuPerLogin = cpu / time.Duration(n*count)
	r.redisPerLogin = redisUsed / time.Duration(n*count)
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
// their tokens, says "ready", verifies them all when told "go", says
// "done <time> <CPU time>", saves them and says "saved", and when told
// "replay" presents every worker's tokens again and says "replayed
// <count> accepted <count>".
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
	for i := range logins {
		n, err := store.Issue(ctx)
		if err != nil {
			return err
		}
		tok, err := makeToken(card, key.(*rsa.PrivateKey), testOrigin, n)
		if err != nil {
			return err
		}
		logins[i] = login{n, string(tok)}
	}
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	in.Scan()

	// verify runs every login, inFlight at a time, and returns how many
	// were accepted.
	verify := func(ls []login) int {
		var next, accepted atomic.Int64
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(ls); i = int(next.Add(1)) - 1 {
					if _, err := v.VerifyChallenge(ctx, store, []byte(ls[i].Token), testOrigin, ls[i].Nonce); err == nil {
						accepted.Add(1)
					}
				}
			})
		}
		wg.Wait()
		return int(accepted.Load())
	}
	start, startCPU := time.Now(), cpuTime()
	if ok := verify(logins); ok != count {
		return fmt.Errorf("%d of %d logins accepted", ok, count)
	}
	fmt.Println("done", time.Since(start), cpuTime()-startCPU)
	saved, _ := json.Marshal(logins)
	if err := os.WriteFile(filepath.Join(dir, "consumed-"+os.Getenv("EIDLINK_NONCE_BENCH_ID")+".json"), saved, 0o600); err != nil {
		return err
	}
	fmt.Println("saved")
	in.Scan()

	var replays []login
	files, _ := filepath.Glob(filepath.Join(dir, "consumed-*.json"))
	for _, f := range files {
		var ls []login
		if err := json.Unmarshal(mustRead(f), &ls); err != nil {
			return err
		}
		replays = append(replays, ls...)
	}
	fmt.Println("replayed", len(replays), "accepted", verify(replays))
	return nil
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
