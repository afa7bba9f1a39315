// fault-test: proves end-to-end delivery under faults (issue 5). One binary, three roles:
//   fault-test [run] [--no-batch] [--sites N] [--records N] [--fault-records N] [--cut-seconds S] [--broker-queue N] [--window N] [--keep]
//   fault-test --throughput [--repeats N] [--sites N] [--records N]    only the unpaced phase, repeated, with CPU per part
//   fault-test hub --broker H:P --db FILE --samples FILE                      a hub process
//   fault-test site --broker H:P --site NAME --dir DIR --start I --count N --rate R [--alert-every N] [--no-batch]
// Run from the repository root: swift run -c release fault-test. Exit status 1 when a record
// was lost or duplicated (or a sequence is out of order), 0 when every record arrived exactly once.
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
do {
    switch args.first {
    case "hub": try HubRole.run(Options(Array(args.dropFirst())))
    case "site": try SiteRole.run(Options(Array(args.dropFirst())))
    case "run": if try !Orchestrator(Options(Array(args.dropFirst()))).run() { exit(1) }
    case "--throughput":
        let o = try Options(Array(args.dropFirst()))
        if try !Orchestrator(o).runThroughput(repeats: max(1, try o.int("repeats", default: 5))) { exit(1) }
    case "--latency":
        let o = try Options(Array(args.dropFirst()))
        if try !Orchestrator(o).runLatency(repeats: max(1, try o.int("repeats", default: 5))) { exit(1) }
    case "-h", "--help": print("usage: fault-test [--throughput [--repeats N] | --latency [--repeats N]] [run] [--no-batch] [--sites N] [--records N] [--fault-records N] [--cut-seconds S] [--broker-queue N] [--window N] [--keep]")
    default: if try !Orchestrator(Options(args)).run() { exit(1) }
    }
} catch {
    FileHandle.standardError.write(Data("fault-test: \(error)\n".utf8))
    exit(1)
}
