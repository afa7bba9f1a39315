// swift-tools-version:6.1
import PackageDescription

// Layout and dependency direction: ../shared/DESIGN.md section 1.
// executables -> SkyEdge / SkyHub -> SkyCapture, SkyTelemetry, SkyNN, SkyImage, SkySim -> SkyCore -> C shims

let package = Package(
    name: "SkyEdge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "skyedge", targets: ["skyedge"]),
        .executable(name: "skyhub", targets: ["skyhub"]),
        .executable(name: "skydiag", targets: ["skydiag"]),
        .executable(name: "skymodel", targets: ["skymodel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C: micro-kernels and CPU feature dispatch only.
        .target(name: "CSkyKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])], linkerSettings: [.linkedLibrary("m")]),

        // System-library shims, found through pkg-config.
        .systemLibrary(name: "CFITSIO", pkgConfig: "cfitsio",
                       providers: [.apt(["libcfitsio-dev"])]),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto",
                       providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CV4L2", pkgConfig: "libv4l2",
                       providers: [.apt(["libv4l-dev"])]),

        .target(name: "SkyCore"),
        // Image analysis is optimized in debug builds too (as CSkyKernels is): the site's
        // per-frame deadline tests run the full extractor, which unoptimized takes 10-50x longer.
        .target(name: "SkyImage", dependencies: ["SkyCore", "CFITSIO", "CSkyKernels"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "SkySim", dependencies: ["SkyCore", "SkyImage"]),
        .target(name: "SkyNN", dependencies: ["SkyCore", "CSkyKernels", "COpenBLAS"]),
        .target(name: "SkyCapture", dependencies: ["SkyCore", "SkyImage", "SkySim", "CV4L2"]),
        .target(name: "SkyTelemetry", dependencies: ["SkyCore", "CMosquitto"]),
        .target(name: "SkyEdge", dependencies: [
            "SkyCore", "SkyImage", "SkySim", "SkyNN", "SkyCapture", "SkyTelemetry", "CSkyKernels",
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "SkyHub", dependencies: [
            "SkyCore", "SkyTelemetry",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Yams", package: "Yams"),
        ]),

        .executableTarget(name: "skyedge", dependencies: [
            "SkyEdge", "SkyCapture", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "skyhub", dependencies: [
            "SkyHub", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "skydiag", dependencies: [
            "SkyEdge", "SkyImage", "SkySim", "SkyCapture", "SkyTelemetry",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "skymodel", dependencies: [
            "SkyNN", "SkyEdge", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Test support: counts heap allocations, to prove hot paths allocate nothing.
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        // Test support shared by the test targets that talk to a real broker.
        .target(name: "SkyTestSupport", dependencies: ["SkyTelemetry"], path: "Tests/SkyTestSupport"),

        // Tools/fault-test: delivery under broker/site/hub kills and link cuts (swift run -c release fault-test).
        .executableTarget(name: "fault-test", dependencies: ["SkyHub", "SkyTelemetry", "SkyCore"],
                          path: "Tools/fault-test"),

        .testTarget(name: "CSkyKernelsTests", dependencies: ["CSkyKernels"]),
        .testTarget(name: "SkyCoreTests", dependencies: ["SkyCore"]),
        .testTarget(name: "SkyImageTests", dependencies: ["SkyImage", "SkySim", "CAllocationCounter"]),
        .testTarget(name: "SkySimTests", dependencies: ["SkySim", "SkyImage"]),
        .testTarget(name: "SkyNNTests", dependencies: ["SkyNN", "CSkyKernels", "CAllocationCounter"]),
        .testTarget(name: "SkyCaptureTests", dependencies: ["SkyCapture", "SkyImage", "SkySim"]),
        .testTarget(name: "SkyTelemetryTests", dependencies: ["SkyTelemetry", "SkyCore", "SkyTestSupport"]),
        .testTarget(name: "SkyEdgeTests", dependencies: ["SkyEdge", "SkyHub", "SkyTelemetry", "SkyTestSupport", "CAllocationCounter"]),
        .testTarget(name: "SkyHubTests", dependencies: ["SkyHub", "SkyTelemetry", "SkyTestSupport"], exclude: ["Corpus"]),
    ]
)
