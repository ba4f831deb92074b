// Command chdbserver serves a current ClickHouse from libchdb.so (ClickHouse
// built as a library by the chdb project) on TCP and HTTP ports, for tests.
// It loads the library with purego and calls chdb_query_cmdline with
// clickhouse-local arguments that open the native and HTTP listeners, then
// keeps a query running for a day; SIGTERM ends it.
//
//	chdbserver -lib libchdb.so -tcp PORT -http PORT -path DIR [-config FILE] [-- clickhouse-local arguments]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"unsafe"

	"github.com/ebitengine/purego"
)

// serve opens the listeners, then blocks: clickhouse-local runs its query
// while the listeners answer other clients.
const serve = "SYSTEM START LISTEN TCP; SYSTEM START LISTEN HTTP; " +
	"SELECT sleepEachRow(1) FROM numbers(86400) " +
	"SETTINGS function_sleep_max_microseconds_per_block = 0, max_block_size = 1 FORMAT Null"

func main() {
	lib := flag.String("lib", "", "path of libchdb.so")
	tcp := flag.Int("tcp", 0, "native protocol port")
	http := flag.Int("http", 0, "HTTP port")
	dir := flag.String("path", "", "data directory")
	config := flag.String("config", "", "clickhouse-local configuration file (optional)")
	flag.Parse()
	if *lib == "" || *tcp <= 0 || *http <= 0 || *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: chdbserver -lib libchdb.so -tcp PORT -http PORT -path DIR [-config FILE] [-- clickhouse-local arguments]")
		os.Exit(2)
	}
	args := []string{"clickhouse",
		"--listen_host=127.0.0.1",
		"--tcp_port=" + strconv.Itoa(*tcp),
		"--http_port=" + strconv.Itoa(*http),
		"--path=" + *dir,
	}
	if *config != "" {
		args = append(args, "--config-file="+*config)
	}
	args = append(args, flag.Args()...)
	args = append(args, "--multiquery", "--query", serve)
	if err := run(*lib, args); err != nil {
		fmt.Fprintf(os.Stderr, "chdbserver: %v\n", err)
		os.Exit(1)
	}
}

// run calls chdb_query_cmdline(argc, argv) of lib and returns the error of
// its result, if any.
func run(lib string, args []string) error {
	h, err := purego.Dlopen(lib, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return fmt.Errorf("load %s: %v", lib, err)
	}
	var (
		queryCmdline func(argc int32, argv **byte) uintptr
		resultError  func(result uintptr) *byte
	)
	purego.RegisterLibFunc(&queryCmdline, h, "chdb_query_cmdline")
	purego.RegisterLibFunc(&resultError, h, "chdb_result_error")

	strs := make([][]byte, len(args))
	argv := make([]*byte, len(args)+1)
	for i, a := range args {
		strs[i] = append([]byte(a), 0)
		argv[i] = &strs[i][0]
	}
	res := queryCmdline(int32(len(args)), &argv[0])
	runtime.KeepAlive(strs)
	runtime.KeepAlive(argv)
	if res == 0 {
		return fmt.Errorf("chdb_query_cmdline returned no result")
	}
	if msg := resultError(res); msg != nil {
		return fmt.Errorf("%s", cString(msg))
	}
	return fmt.Errorf("the serving query ended")
}

// cString copies the NUL-terminated string at p.
func cString(p *byte) string {
	var b []byte
	for ; *p != 0; p = (*byte)(unsafe.Add(unsafe.Pointer(p), 1)) {
		b = append(b, *p)
	}
	return string(b)
}
