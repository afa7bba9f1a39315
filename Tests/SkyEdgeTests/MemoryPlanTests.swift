import Testing
@testable import SkyImage
@testable import SkyEdge

@Test func thePlanAddsUpAndFitsANanoAt4K() throws {
    let board = try BoardProfiles.load("jetson-nano", from: PackagePaths.boards)
    let plan = MemoryPlan.make(config: SiteConfig(site: "s", node: "n"), board: board)
    let slots = try #require(plan.entries.first { $0.name == "frame slots" })
    #expect(slots.bytes == 2 * 4096 * 4096 * 2)
    #expect(plan.arenaBytes >= plan.entries.filter(\.inArena).reduce(0) { $0 + $1.bytes })
    #expect(plan.totalBytes > plan.arenaBytes)
    #expect(plan.fits)
    #expect(plan.formatted().contains("fits: yes"))
}

@Test func anOversizedConfigurationIsRefusedWithThePlan() throws {
    var config = frames(16_384, 16_384)
    config.pipeline.slots = 4
    let plan = MemoryPlan.make(config: config, board: try BoardProfiles.load("jetson-nano", from: PackagePaths.boards))
    #expect(!plan.fits)
    do {
        _ = try Arena(plan: plan)
        Issue.record("allocated an arena over budget")
    } catch let e as MemoryPlanError {
        let text = e.description
        #expect(text.contains("refusing to start"))
        #expect(text.contains("frame slots"))
        #expect(text.contains("fits: NO"))
    }
}

@Test func arenaRegionsAreAlignedDisjointAndSized() throws {
    let plan = MemoryPlan.make(config: frames(640, 480), board: try BoardProfiles.load("generic-x86_64", from: PackagePaths.boards))
    let arena = try Arena(plan: plan)
    var ranges: [(Int, Int)] = []
    for e in plan.entries where e.inArena {
        let r = arena.region(e.name)
        let start = Int(bitPattern: r.baseAddress!)
        #expect(start % MemoryPlan.alignment == 0)
        #expect(r.count == e.bytes)
        #expect(start >= Int(bitPattern: arena.base) && start + r.count <= Int(bitPattern: arena.base) + arena.size)
        ranges.append((start, start + r.count))
    }
    ranges.sort { $0.0 < $1.0 }
    for i in 1..<ranges.count { #expect(ranges[i - 1].1 <= ranges[i].0) }
}

@Test func thePipelineExtractsInItsArenaRegion() throws {
    var config = frames(640, 480)
    config.pipeline.threads = 2
    let plan = MemoryPlan.make(config: config, board: try BoardProfiles.load("generic-x86_64", from: PackagePaths.boards))
    let scratch = try #require(plan.entries.first { $0.name == "extractor scratch" })
    #expect(scratch.inArena)
    #expect(scratch.bytes == SourceExtractor.scratchBytes(maxWidth: 640, maxHeight: 480, options: config.extractionOptions, threads: 2))
    // What grows with the frame is five maps of 4 bytes a pixel (the extractor once kept nine);
    // the rest is fixed by the catalogue capacity, the object size bound and the threads
    // (plus three rows of inverse variance per thread).
    let bigger = SourceExtractor.scratchBytes(maxWidth: 1280, maxHeight: 960, options: config.extractionOptions, threads: 2)
    #expect(abs((bigger - scratch.bytes) - 5 * 4 * (1280 * 960 - 640 * 480) - 2 * 3 * 4 * (1280 - 640)) < 64 * 8)
    let arena = try Arena(plan: plan)
    let pipeline = FramePipeline(config: config, arena: arena)
    let region = arena.region("extractor scratch")
    let inRegion = pipeline.extractor.withMaps { sub, rms in
        let lo = Int(bitPattern: region.baseAddress!), hi = lo + region.count
        return [Int(bitPattern: sub.baseAddress!), Int(bitPattern: rms.baseAddress!)].allSatisfy { $0 >= lo && $0 < hi }
    }
    #expect(inRegion)
    #expect(pipeline.extractor.threads == 2)
}

@Test func theQualityJudgementWorksInItsArenaRegion() throws {
    let config = frames(640, 480)
    let plan = MemoryPlan.make(config: config, board: try BoardProfiles.load("generic-x86_64", from: PackagePaths.boards))
    let entry = try #require(plan.entries.first { $0.name == "quality scratch" })
    #expect(entry.inArena)
    #expect(plan.formatted().contains("quality scratch"))
    // Well under a byte a pixel at 4K: the bad-column finder's offsets per column and 64-row block,
    // its per-column levels, the trail cross-sections along the diagonal, a bounded region lattice.
    let at4K = QualityScratch.bytes(maxWidth: 4096, maxHeight: 4096, catalogCapacity: config.pipeline.maxStars)
    #expect(at4K > 4096 / 64 * 4096 * 4 && at4K < 4096 * 4096 / 2, "\(at4K) bytes")
    let arena = try Arena(plan: plan)
    let pipeline = FramePipeline(config: config, arena: arena)
    let region = arena.region("quality scratch")
    let lo = Int(bitPattern: region.baseAddress!), hi = lo + region.count
    let s = pipeline.qualityScratch
    let starts = [Int(bitPattern: s.stars.baseAddress!), Int(bitPattern: s.badColumns.deviation.baseAddress!),
                  Int(bitPattern: s.trailProfile.samples.baseAddress!), Int(bitPattern: s.regionSamples.value.baseAddress!)]
    #expect(starts.allSatisfy { $0 >= lo && $0 < hi })
    let end = s.regionSamples.region.baseAddress! + s.regionSamples.region.count
    #expect(Int(bitPattern: end) <= hi)
}

/// A site config for frames up to `width x height`, defaults otherwise.
private func frames(_ width: Int, _ height: Int) -> SiteConfig {
    var config = SiteConfig(site: "s", node: "n")
    config.maxFrameWidth = width
    config.maxFrameHeight = height
    return config
}
