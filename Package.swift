// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Sluice",
    products: [
        .executable(name: "sluice", targets: ["sluice"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(
            name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .target(name: "CSpawn"),
        .target(name: "SluiceBasics", dependencies: ["CSpawn"]),
        .target(name: "SluiceSpec", dependencies: ["CYAML", "SluiceBasics"]),
        .target(
            name: "SluiceStore", dependencies: ["CLibPQ", "SluiceBasics"],
            resources: [.embedInCode("Migrations")]),
        .target(name: "SluiceExecutor", dependencies: ["SluiceBasics", "SluiceSpec", "SluiceStore"]),
        .target(
            name: "SluiceEngine",
            dependencies: ["SluiceSpec", "SluiceStore", "SluiceExecutor", "SluiceBasics"]),
        .target(
            name: "SluiceCLI",
            dependencies: [
                "SluiceEngine", "SluiceExecutor", "SluiceSpec", "SluiceStore", "SluiceBasics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "sluice", dependencies: ["SluiceCLI"]),
        .target(
            name: "SluiceTestSupport", dependencies: ["SluiceStore", "SluiceBasics"],
            path: "Tests/SluiceTestSupport"),
        .testTarget(name: "SluiceSpecTests", dependencies: ["SluiceSpec"]),
        .testTarget(name: "SluiceBasicsTests", dependencies: ["SluiceBasics"]),
        .testTarget(
            name: "SluiceStoreTests", dependencies: ["SluiceStore", "SluiceTestSupport"]),
        .testTarget(
            name: "SluiceExecutorTests",
            dependencies: ["SluiceExecutor", "SluiceBasics", "SluiceSpec", "SluiceTestSupport"]),
        .testTarget(
            name: "SluiceEngineTests",
            dependencies: ["SluiceEngine", "SluiceExecutor", "SluiceSpec", "SluiceStore", "SluiceTestSupport"]),
        .testTarget(
            name: "SluiceCLITests", dependencies: ["sluice", "SluiceTestSupport", "SluiceBasics", "SluiceStore"]),
    ],
    swiftLanguageModes: [.v6]
)
