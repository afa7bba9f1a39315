import Testing
@testable import SkyCore

@Test func mjdOfKnownInstants() {
    #expect(UTCInstant(unixSeconds: 0).mjd == 40_587)
    // MJD 51544.5 is 2000-01-01T12:00 and MJD 60000 is 2023-02-25T00:00 (Python's datetime gives 1677283200 s).
    let j2000 = UTCInstant(iso: "2000-01-01T12:00:00")!
    #expect(abs(j2000.mjd - 51_544.5) < 1e-9)
    #expect(abs(UTCInstant(mjd: 60_000).unixSeconds - 1_677_283_200) < 1e-6)
}

@Test(arguments: [
    ("2026-11-25T21:39:00.125", 1_795_642_740.125),
    ("2026-11-25T21:39:00.125Z", 1_795_642_740.125),
    ("2026-11-25", 1_795_564_800.0),
    ("25/11/26", 1_795_564_800.0),
    ("1999-12-31T23:59:59", 946_684_799.0),
])
func parsesFITSDates(text: String, unix: Double) throws {
    let t = try #require(UTCInstant(iso: text))
    #expect(abs(t.unixSeconds - unix) < 1e-6)
}

@Test(arguments: ["", "yesterday", "900000000000000000-01-01", "2026-13-01", "2026-11-25T25:00:00", "2026-11-25T10:61:00", "2026-11", "12/34"])
func rejectsNonDates(text: String) {
    #expect(UTCInstant(iso: text) == nil)
}

@Test func isoStringRoundTrips() throws {
    for s in ["2026-11-25T21:39:00.125", "1970-01-01T00:00:00.000", "2038-01-19T03:14:08.999"] {
        #expect(try #require(UTCInstant(iso: s)).isoString == s)
    }
}
