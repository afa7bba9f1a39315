// fault-test: proves end-to-end delivery under faults (issue 5). One binary, three roles:
//   fault-test [run] [--sites N] [--records N] [--fault-records N] [--cut-seconds S] [--broker-queue N] [--window N] [--keep]
//   fault-test hub --broker H:P --db FILE --samples FILE                      a hub process
//   fault-test site --broker H:P --site NAME --dir DIR --start I --count N --rate R
// Run from the repository root: swift run -c release fault-test
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
do {
    switch args.first {
    case "hub": try HubRole.run(Options(Array(args.dropFirst())))
    case "site": try SiteRole.run(Options(Array(args.dropFirst())))
    case "run": try Orchestrator(Options(Array(args.dropFirst()))).run()
    case "-h", "--help": print("usage: fault-test [run] [--sites N] [--records N] [--fault-records N] [--cut-seconds S] [--broker-queue N] [--window N] [--keep]")
    default: try Orchestrator(Options(args)).run()
    }
} catch {
    FileHandle.standardError.write(Data("fault-test: \(error)\n".utf8))
    exit(1)
}
