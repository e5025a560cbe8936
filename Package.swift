// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Sluice",
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "sluice-shim", targets: ["sluice-shim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(
            name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .target(name: "CSpawn"),
        // C only: linked statically, without the Swift runtime it does not use (a watcher starts per step,
        // and loading libswiftCore would cost each step 1.4 ms).
        .executableTarget(
            name: "sluice-shim", dependencies: ["CSpawn"],
            linkerSettings: [.unsafeFlags(["-static-executable", "-nostartfiles"])]),
        .target(name: "SluiceBasics", dependencies: ["CSpawn"]),
        .target(name: "SluiceModel"),
        .target(name: "SluiceSpec", dependencies: ["CYAML", "SluiceBasics", "SluiceModel"]),
        .target(
            name: "SluiceStore", dependencies: ["CLibPQ", "SluiceBasics", "SluiceModel"],
            resources: [.embedInCode("Migrations")]),
        .target(name: "SluiceExecutor", dependencies: ["SluiceBasics", "SluiceModel"]),
        .target(
            name: "SluiceLineage",
            dependencies: ["SluiceBasics", "SluiceModel", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "SluiceHost", dependencies: ["SluiceSpec", "SluiceExecutor", "SluiceModel", "SluiceBasics"]),
        .target(
            name: "SluiceEngine",
            dependencies: [
                "SluiceSpec", "SluiceStore", "SluiceExecutor", "SluiceHost", "SluiceModel", "SluiceBasics",
                "SluiceLineage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .target(
            name: "SluiceCLI",
            dependencies: [
                "SluiceEngine", "SluiceExecutor", "SluiceHost", "SluiceSpec", "SluiceStore", "SluiceModel",
                "SluiceBasics", "SluiceLineage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(name: "sluice", dependencies: ["SluiceCLI"]),
        .target(
            name: "SluiceTestSupport", dependencies: ["SluiceStore", "SluiceBasics", "SluiceModel"],
            path: "Tests/SluiceTestSupport"),
        .testTarget(name: "SluiceSpecTests", dependencies: ["SluiceSpec", "SluiceModel", "SluiceHost"]),
        .testTarget(name: "SluiceBasicsTests", dependencies: ["SluiceBasics"]),
        .testTarget(name: "SluiceLineageTests", dependencies: ["SluiceLineage", "SluiceBasics", "SluiceModel"]),
        .testTarget(
            name: "SluiceStoreTests", dependencies: ["SluiceStore", "SluiceModel", "SluiceTestSupport"]),
        .testTarget(
            name: "SluiceExecutorTests",
            dependencies: ["SluiceExecutor", "sluice-shim", "SluiceBasics", "SluiceModel", "SluiceTestSupport"]),
        .testTarget(
            name: "SluiceEngineTests",
            dependencies: [
                "SluiceEngine", "SluiceExecutor", "SluiceHost", "SluiceSpec", "SluiceStore", "SluiceModel",
                "SluiceTestSupport",
            ]),
        .testTarget(
            name: "SluiceCLITests",
            dependencies: ["sluice", "sluice-shim", "SluiceTestSupport", "SluiceBasics", "SluiceStore", "SluiceModel"]),
    ],
    swiftLanguageModes: [.v6]
)
