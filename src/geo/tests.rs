//! Tests of the geography module.
//!
//! This file owns the module's unit tests: the real national files in
//! `shared/data/geography` (which must exist beside the repository: the tests fail
//! loudly, never skip, when they are absent), the builtins, and the small fixtures in
//! `fixtures/geography` (a cut-down NSPL and broken files, made by `make_fixtures.py`).

use super::*;
use std::path::PathBuf;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/geography/");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/geography/");

fn data(name: &str) -> PathBuf {
    let p = Path::new(DATA).join(name);
    assert!(
        p.exists(),
        "shared geography data missing: {} (the tests need shared/data/geography beside the repo)",
        p.display()
    );
    p
}

fn fixture(name: &str) -> PathBuf {
    let p = Path::new(FIXTURES).join(name);
    assert!(p.exists(), "fixture missing: {}", p.display());
    p
}

fn read(p: &Path) -> GeoFile {
    read_file(p, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn read_err(p: &Path) -> GeoError {
    match read_file(p, &ReadOptions::default()) {
        Ok(f) => panic!("{} loaded ({}) but should fail", p.display(), f.format),
        Err(e) => e,
    }
}

fn data_errors(e: &GeoError) -> &[DataError] {
    match e {
        GeoError::Invalid { errors, .. } => errors,
        other => panic!("expected data errors, got: {other}"),
    }
}

fn raw_2019() -> Geography {
    let mut b = GeographyBuilder::new();
    b.index_file(&data("imd2019_file2_domains_lsoa11.csv")).unwrap();
    b.wards_file(&data("ons_lsoa11_wd19_lad19_ew_lookup.csv")).unwrap();
    b.regions_file(&data("ons_wd19_lad19_cty19_rgn19_ctry19_uk_lookup.csv")).unwrap();
    b.population_file(&data("imd2019_file6_population_denominators_lsoa11.csv")).unwrap();
    b.build().unwrap()
}

#[test]
#[ignore = "rewrites src/geo/builtin/*.csv.gz from the shared data"]
fn regenerate_builtin() {
    let out = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/geo/builtin"));
    let sizes = generate_builtin(Path::new(DATA), out).unwrap();
    eprintln!("{sizes:?}");
}

// ------------------------------------------------------------------ codes

#[test]
fn codes_check_their_form() {
    let l = LsoaCode::new(" e01012571 ").unwrap();
    assert_eq!(l.as_str(), "E01012571");
    assert_eq!(l.nation(), Nation::England);
    assert_eq!(LsoaCode::new("W01000001").unwrap().nation(), Nation::Wales);
    for bad in ["", "E0101257", "E010125711", "E02012571", "S01006506", "E01O12571", "E01-12571"] {
        assert!(LsoaCode::new(bad).is_err(), "{bad:?} accepted");
    }
    assert!(DataZoneCode::new("S01006506").is_ok());
    assert!(DataZoneCode::new("E01006506").is_err());
    for ok in ["E05011508", "W05000985", "S13002605", "N08000101"] {
        assert!(WardCode::new(ok).is_ok(), "{ok}");
    }
    assert!(WardCode::new("E06000008").is_err());
    for ok in ["E06000008", "E07000123", "E08000005", "E09000001", "W06000001", "S12000013", "N09000001"] {
        assert!(LadCode::new(ok).is_ok(), "{ok}");
    }
    assert!(LadCode::new("E10000017").is_err());
    let e = LsoaCode::new("X").unwrap_err();
    assert_eq!(e.to_string(), "\"X\" is not a valid LSOA code (expected E01 or W01 followed by 6 digits)");
    assert!(!LsoaCode::new("E01033768").unwrap().is_2021_only());
    assert!(LsoaCode::new("E01033769").unwrap().is_2021_only());
    assert!(LsoaCode::new("W01001959").unwrap().is_2021_only());
    assert_eq!(AreaCode::new("S01006506").unwrap().nation(), Nation::Scotland);
}

#[test]
fn postcodes_are_normalised() {
    for s in ["PR1 2HE", "pr12he", "  Pr1   2he ", "PR1\t2HE", "PR12HE"] {
        assert_eq!(Postcode::new(s).unwrap().as_str(), "PR1 2HE", "{s:?}");
    }
    assert_eq!(Postcode::new("bb112dl").unwrap().as_str(), "BB11 2DL");
    assert_eq!(Postcode::new("EC1A1BB").unwrap().as_str(), "EC1A 1BB");
    assert_eq!(Postcode::new("m11ae").unwrap().as_str(), "M1 1AE");
    assert_eq!(Postcode::new("M1 1AE").unwrap().outward(), "M1");
    for bad in ["", "PR1", "PR1 2H", "1PR 2HE", "PR1 22E", "PR1-2HE", "ABCDE 1AA"] {
        assert!(Postcode::new(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn deciles_and_quintiles() {
    let n = 32_844;
    assert_eq!(ImdDecile::from_rank_ceil(1, n).unwrap().get(), 1);
    assert_eq!(ImdDecile::from_rank_ceil(3285, n).unwrap().get(), 2); // 3285*10/32844 = 1.0002
    assert_eq!(ImdDecile::from_rank_ceil(3284, n).unwrap().get(), 1);
    assert_eq!(ImdDecile::from_rank_ceil(n, n).unwrap().get(), 10);
    assert!(ImdDecile::from_rank_ceil(0, n).is_none());
    assert!(ImdDecile::from_rank_ceil(n + 1, n).is_none());
    assert_eq!(ImdDecile::from_rank_floor(191, 1909).unwrap().get(), 1);
    assert_eq!(ImdDecile::from_rank_floor(192, 1909).unwrap().get(), 2);
    let q: Vec<u8> = (1..=10).map(|d| ImdDecile::new(d).unwrap().quintile().get()).collect();
    assert_eq!(q, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    assert!(ImdDecile::new(0).is_none() && ImdDecile::new(11).is_none());
}

// ------------------------------------------------------------------ the shared files

#[test]
fn every_shared_file_loads() {
    let cases: [(&str, FileFormat, usize); 9] = [
        ("imd2019_file2_domains_lsoa11.csv", FileFormat::Imd2019File2, 32_844),
        ("imd2019_file6_population_denominators_lsoa11.csv", FileFormat::Imd2019File6, 32_844),
        ("imd2025_england_lsoa21.csv", FileFormat::Imd2025Humaniverse, 33_755),
        ("lancs_cumbria_lsoa11_ward19_imd2019.csv", FileFormat::LsoaWardImd, 1_262),
        ("ons_imd2019_lookup_lsoa11_lad19.csv", FileFormat::OnsImd2019Lookup, 32_844),
        ("ons_lsoa11_wd19_lad19_ew_lookup.csv", FileFormat::LsoaWardLookup, 34_753),
        ("ons_wd19_lad19_cty19_rgn19_ctry19_uk_lookup.csv", FileFormat::WardRegionLookup, 8_887),
        ("simd2020_scotland_dz11.csv", FileFormat::Simd2020Humaniverse, 6_976),
        ("wimd2019_wales_lsoa11.csv", FileFormat::Wimd2019Humaniverse, 1_909),
    ];
    for (name, format, rows) in cases {
        let f = read(&data(name));
        assert_eq!(f.format, format, "{name}");
        let n = [
            f.index.as_ref().map(|t| t.len()),
            f.wards.as_ref().map(|w| w.lsoa_count()),
            f.regions.as_ref().map(|r| r.wards().len()),
            f.population.as_ref().map(|p| p.len()),
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap();
        assert_eq!(n, rows, "{name}");
    }
    let f = read(&data("wimd2019_wales_lsoa11.csv"));
    assert_eq!(f.index.unwrap().kind(), IndexKind::Wimd2019);
    let f = read(&data("simd2020_scotland_dz11.csv"));
    let simd = f.index.unwrap();
    assert_eq!(simd.kind(), IndexKind::Simd2020);
    let dz = simd.get(&AreaCode::new("S01006506").unwrap()).unwrap();
    assert_eq!((dz.rank, dz.decile.get()), (4691, 7));
    let f = read(&data("lancs_cumbria_lsoa11_ward19_imd2019.csv"));
    assert!(f.wards.is_some() && f.population.is_some());
    assert_eq!(f.wards.unwrap().ward_count(), 397);
    assert!(!f.index.unwrap().is_complete());
}

#[test]
fn spot_check_file2_ranks_and_deciles() {
    let geo = raw_2019();
    // (code, name, LAD, rank, decile) grepped from File 2.
    let cases = [
        ("E01000001", "City of London 001A", "E09000001", 29199, 9),
        ("E01012571", "Blackburn with Darwen 007A", "E06000008", 2666, 1),
        ("E01025231", "Preston 013A", "E07000123", 14636, 5),
        ("E01025271", "Preston 013G", "E07000123", 8799, 3),
        ("E01024881", "Burnley 006A", "E07000117", 4529, 2),
        ("E01021988", "Tendring 018A", "E07000076", 1, 1),
        ("E01017787", "Chiltern 005E", "E07000005", 32844, 10),
        ("E01005565", "Rochdale 012C", "E08000005", 3810, 2),
    ];
    for (code, name, lad, rank, decile) in cases {
        let a = geo.resolve(code).unwrap();
        assert_eq!(a.lsoa_name.as_deref(), Some(name));
        assert_eq!(a.lad.unwrap().as_str(), lad);
        assert_eq!(a.imd_rank, rank, "{code}");
        assert_eq!(a.imd_decile.get(), decile, "{code}");
        assert_eq!(a.imd_quintile.get(), decile.div_ceil(2));
    }
    let a = geo.resolve("e01012571").unwrap();
    assert_eq!(a.ward.unwrap().as_str(), "E05011508");
    assert_eq!(a.ward_name.as_deref(), Some("Audley & Queen's Park"));
    assert_eq!(a.lad_name.as_deref(), Some("Blackburn with Darwen"));
    assert_eq!(a.region.as_deref(), Some("E12000002"));
    assert_eq!(a.region_name.as_deref(), Some("North West"));
    assert_eq!(a.index, IndexKind::Imd2019);
}

#[test]
fn decile_rule_holds_across_the_files() {
    for (name, kind) in [
        ("imd2019_file2_domains_lsoa11.csv", IndexKind::Imd2019),
        ("imd2025_england_lsoa21.csv", IndexKind::Imd2025),
        ("wimd2019_wales_lsoa11.csv", IndexKind::Wimd2019),
        ("simd2020_scotland_dz11.csv", IndexKind::Simd2020),
    ] {
        // Loading enforces published decile == rule; here check the rule independently.
        let t = read(&data(name)).index.unwrap();
        assert_eq!(t.kind(), kind);
        assert!(t.is_complete(), "{name}");
        let n = u64::from(kind.area_count());
        for r in t.rows() {
            let rank = u64::from(r.rank);
            let expected = match kind {
                IndexKind::Imd2019 | IndexKind::Imd2025 => (rank * 10).div_ceil(n),
                _ => (rank - 1) * 10 / n + 1,
            };
            assert_eq!(u64::from(r.decile.get()), expected, "{name} {}", r.code);
        }
        // Each decile holds about a tenth of the areas.
        let mut counts = [0usize; 10];
        for r in t.rows() {
            counts[usize::from(r.decile.get() - 1)] += 1;
        }
        for c in counts {
            assert!((c as u64).abs_diff(n / 10) <= 2, "{name}: {counts:?}");
        }
    }
    // The ONS lookup has no decile column: computed deciles equal File 2's.
    let ons = read(&data("ons_imd2019_lookup_lsoa11_lad19.csv")).index.unwrap();
    let f2 = read(&data("imd2019_file2_domains_lsoa11.csv")).index.unwrap();
    for r in ons.rows() {
        let o = f2.get(&r.code).unwrap();
        assert_eq!((r.rank, r.decile), (o.rank, o.decile));
    }
}

#[test]
fn tied_ranks_are_handled() {
    let t = read(&data("imd2019_file2_domains_lsoa11.csv")).index.unwrap();
    assert_eq!(t.tied_ranks(), 26);
    let mut ranks: Vec<u32> = t.rows().iter().map(|r| r.rank).collect();
    ranks.sort_unstable();
    ranks.dedup();
    assert_eq!(ranks.len(), 32_818);
    assert!(!ranks.contains(&2853) && ranks.contains(&2852));
    let a = t.get(&AreaCode::new("E01013651").unwrap()).unwrap();
    let b = t.get(&AreaCode::new("E01020912").unwrap()).unwrap();
    assert_eq!((a.rank, b.rank, a.decile, b.decile), (2852, 2852, b.decile, a.decile));
    let t25 = read(&data("imd2025_england_lsoa21.csv")).index.unwrap();
    assert_eq!(t25.tied_ranks(), 0);
}

#[test]
fn file6_thousands_separators() {
    let p = read(&data("imd2019_file6_population_denominators_lsoa11.csv")).population.unwrap();
    assert_eq!(p.get(&AreaCode::new("E01000001").unwrap()), Some(1296));
    assert_eq!(p.get(&AreaCode::new("E01000002").unwrap()), Some(1156));
    assert_eq!(p.label(), "Total population: mid 2015 (excluding prisoners)");
    // Agrees with the derived Lancashire/Cumbria file, which removed the commas.
    let lancs = read(&data("lancs_cumbria_lsoa11_ward19_imd2019.csv"));
    let lp = lancs.population.unwrap();
    for r in lancs.index.unwrap().rows() {
        assert_eq!(lp.get(&r.code), p.get(&r.code), "{}", r.code);
    }
    assert_eq!(super::read::KNOWN_FORMATS.len(), 9);
}

#[test]
fn mojibake_is_kept_as_is() {
    let r = read(&data("ons_wd19_lad19_cty19_rgn19_ctry19_uk_lookup.csv")).regions.unwrap();
    let w = r.get(&WardCode::new("S13002605").unwrap()).unwrap();
    assert_eq!(w.ward.name, "Ste\u{c3}\u{b2}rnabhagh a Deas");
}

#[test]
fn wards_without_lsoa_are_listed() {
    let geo = raw_2019();
    let missing = geo.wards_without_lsoa();
    assert_eq!(missing.len(), 39);
    assert!(missing.iter().any(|w| w.code.as_str() == "E05011090" && w.name == "Bryher"));
    assert!(missing.iter().all(|w| w.code.nation() == Nation::England));
    assert_eq!(geo.lsoas_without_ward(), 0);
}

#[test]
fn local_deciles() {
    let geo = raw_2019();
    let mut by_lad: HashMap<LadCode, Vec<AreaInfo>> = HashMap::new();
    for a in geo.iter() {
        by_lad.entry(a.lad.unwrap()).or_default().push(a);
    }
    for (lad, areas) in &by_lad {
        let m = areas.len();
        if m < 10 {
            assert!(areas.iter().all(|a| a.local_decile.is_none()), "{lad}");
            continue;
        }
        // Monotone in national rank, ties together, every decile used, sizes as equal
        // as ceil(r*10/m) makes them.
        let mut sorted = areas.clone();
        sorted.sort_by_key(|a| a.imd_rank);
        for w in sorted.windows(2) {
            let (x, y) = (w[0].local_decile.unwrap(), w[1].local_decile.unwrap());
            assert!(x <= y, "{lad}");
            if w[0].imd_rank == w[1].imd_rank {
                assert_eq!(x, y);
            }
        }
        assert_eq!(sorted[0].local_decile.unwrap().get(), 1);
        assert_eq!(sorted[m - 1].local_decile.unwrap().get(), 10);
    }
    let small: Vec<_> = by_lad.iter().filter(|(_, v)| v.len() < 10).map(|(k, _)| k.as_str()).collect();
    assert_eq!(small.len(), 2, "{small:?}"); // City of London, Isles of Scilly
                                             // Blackburn with Darwen: the LSOA with the lowest national rank is local decile 1.
    let bwd = &by_lad[&LadCode::new("E06000008").unwrap()];
    let first = bwd.iter().min_by_key(|a| a.imd_rank).unwrap();
    assert_eq!(first.local_decile.unwrap().get(), 1);
    assert_eq!(first.local_quintile.unwrap().get(), 1);
}

// ------------------------------------------------------------------ builtins

#[test]
fn builtin_imd2019_equals_the_raw_files() {
    let raw = raw_2019();
    let b = Geography::builtin(Builtin::Imd2019).unwrap();
    assert_eq!(b.index().len(), 32_844);
    assert!(b.index().is_complete());
    assert_eq!(b.index().tied_ranks(), 26);
    let mut x: Vec<AreaInfo> = raw.iter().collect();
    let mut y: Vec<AreaInfo> = b.iter().collect();
    x.sort_by_key(|a| a.lsoa);
    y.sort_by_key(|a| a.lsoa);
    assert_eq!(x, y);
    let wx: Vec<_> = raw.wards_without_lsoa().into_iter().map(|w| w.code).collect();
    let mut wy: Vec<_> = b.wards_without_lsoa().into_iter().map(|w| w.code).collect();
    let mut wx = wx;
    wx.sort();
    wy.sort();
    assert_eq!(wx, wy);
    let prov = b.provenance();
    assert_eq!(prov[0].source, "builtin imd2019");
    assert_eq!(prov[0].vintage, "IMD2019 on LSOA2011");
    assert_eq!(prov[1].vintage, "LSOA2011 -> WD19 -> LAD19 (best fit)");
    assert!(prov.iter().any(|p| p.what == "population"));
}

#[test]
fn builtin_imd2025_equals_the_raw_file() {
    let raw = read(&data("imd2025_england_lsoa21.csv")).index.unwrap();
    let b = Geography::builtin(Builtin::Imd2025).unwrap();
    assert_eq!(b.index().kind(), IndexKind::Imd2025);
    assert_eq!(b.index().len(), raw.len());
    for r in raw.rows() {
        let a = b.resolve_code(r.code).unwrap();
        assert_eq!((a.imd_rank, a.imd_decile), (r.rank, r.decile));
        assert!(a.ward.is_none() && a.lad.is_none() && a.local_decile.is_none());
    }
    assert_eq!(b.resolve("E01000001").unwrap().imd_rank, 26525);
    assert_eq!(b.resolve("E01033769").unwrap().imd_decile.get(), 4);
    // Code of a 2011 LSOA retired in 2021: unknown to IMD2025.
    assert!(matches!(b.resolve("E01000010"), Err(ResolveError::Unknown { .. })));
}

#[test]
fn builtin_files_are_small() {
    let total = BUILTIN_IMD2019_GZ.len() + BUILTIN_WARDS2019_GZ.len() + BUILTIN_IMD2025_GZ.len();
    assert!(total < 1_000_000, "builtins take {total} bytes");
    let csv = builtin_csv(BUILTIN_IMD2019_GZ).unwrap();
    assert!(csv.starts_with("LSOA11CD,LSOA11NM,WD19CD,WD19NM,LAD19CD,LAD19NM,IMD19_RANK,IMD19_DECILE,POP_MID2015\n"));
    assert!("imd2019".parse::<Builtin>().is_ok() && "IMD2025".parse::<Builtin>().is_ok());
    assert!("imd2015".parse::<Builtin>().is_err());
    assert!(OGL_ATTRIBUTION.contains("Open Government Licence v3.0"));
}

// ------------------------------------------------------------------ resolving

#[test]
fn resolve_errors_say_why() {
    let geo = Geography::builtin(Builtin::Imd2019).unwrap();
    assert_eq!(
        geo.resolve("E0101257").unwrap_err().to_string(),
        "malformed LSOA code \"E0101257\" (expected E01, W01 or S01 followed by 6 digits)"
    );
    assert_eq!(
        geo.resolve("W01000001").unwrap_err().to_string(),
        "LSOA W01000001 is in Wales, but the IMD2019 index covers England only"
    );
    assert_eq!(
        geo.resolve("E01035000").unwrap_err().to_string(),
        "LSOA E01035000 is an LSOA2021 code, but the IMD2019 index is on LSOA2011 boundaries"
    );
    assert!(geo.resolve("E01033768").is_ok());
    assert!(matches!(geo.resolve("S01006506"), Err(ResolveError::WrongNation { .. })));
    assert!(matches!(geo.resolve_postcode("PR1 2HE"), Err(ResolveError::NoPostcodeLookup { .. })));
}

#[test]
fn postcode_lookup_from_the_nspl_fixture() {
    let mut b = GeographyBuilder::new();
    b.builtin(Builtin::Imd2019).unwrap();
    b.postcodes_file(&fixture("nspl_lancs_sample.csv")).unwrap();
    let geo = b.build().unwrap();
    assert_eq!(geo.postcodes().unwrap().len(), 10);
    for pc in ["PR1 2HE", "pr12he", " pr1  2HE "] {
        let a = geo.resolve_postcode(pc).unwrap();
        assert_eq!(a.lsoa.as_str(), "E01025231");
        assert_eq!((a.imd_rank, a.imd_decile.get()), (14636, 5));
        assert_eq!(a.ward_name.as_deref(), Some("Ashton"));
    }
    assert_eq!(geo.resolve_postcode("BB112DL").unwrap().lsoa.as_str(), "E01024881");
    let terminated = Postcode::new("PR1 9ZZ").unwrap();
    assert!(geo.postcodes().unwrap().get(&terminated).unwrap().terminated);
    assert!(geo.resolve_postcode("PR1 9ZZ").is_ok());
    assert!(matches!(geo.resolve_postcode("EH1 1YZ"), Err(ResolveError::WrongNation { .. })));
    assert!(matches!(geo.resolve_postcode("GY1 1AA"), Err(ResolveError::PostcodeWithoutArea { .. })));
    assert!(matches!(geo.resolve_postcode("PR9 9ZZ"), Err(ResolveError::UnknownPostcode { .. })));
    assert!(matches!(geo.resolve_postcode("PR9"), Err(ResolveError::MalformedPostcode { .. })));

    // Keep only some postcodes.
    let mut b = GeographyBuilder::new();
    b.builtin(Builtin::Imd2019).unwrap();
    b.postcode_filter([Postcode::new("bb2 1lr").unwrap()].into_iter().collect());
    b.postcodes_file(&fixture("nspl_lancs_sample.csv")).unwrap();
    let geo = b.build().unwrap();
    assert_eq!(geo.postcodes().unwrap().len(), 1);
    assert_eq!(geo.resolve_postcode("BB2 1LR").unwrap().ward.unwrap().as_str(), "E05011508");
}

#[test]
fn onspd_picks_the_index_vintage() {
    let mut b = GeographyBuilder::new();
    b.builtin(Builtin::Imd2025).unwrap();
    b.postcodes_file(&fixture("onspd_lancs_sample.csv")).unwrap();
    let geo = b.build().unwrap();
    assert_eq!(geo.resolve_postcode("PR4 0ZZ").unwrap().lsoa.as_str(), "E01035000");
    // The NSPL fixture has no lsoa21 column: it cannot serve IMD2025.
    let mut b = GeographyBuilder::new();
    b.builtin(Builtin::Imd2025).unwrap();
    b.postcodes_file(&fixture("nspl_lancs_sample.csv")).unwrap();
    let e = b.build().unwrap_err();
    assert!(e.to_string().contains("no lsoa21 column"), "{e}");
}

#[test]
fn incompatible_vintages_are_refused() {
    let mut b = GeographyBuilder::new();
    b.builtin(Builtin::Imd2025).unwrap();
    b.wards_file(&data("ons_lsoa11_wd19_lad19_ew_lookup.csv")).unwrap();
    let e = b.build().unwrap_err();
    assert!(matches!(e, GeoError::Incompatible { .. }));
    assert!(e.to_string().contains("maps LSOA2011 codes, but the IMD2025 index is on LSOA2021"), "{e}");
    assert!(matches!(GeographyBuilder::new().build(), Err(GeoError::NoIndex)));
}

#[test]
fn lancs_extract_as_index_and_wards() {
    let mut b = GeographyBuilder::new();
    b.index_file(&data("lancs_cumbria_lsoa11_ward19_imd2019.csv")).unwrap();
    let geo = b.build().unwrap();
    let a = geo.resolve("E01012572").unwrap();
    assert_eq!((a.imd_rank, a.imd_decile.get()), (1102, 1));
    assert_eq!(a.ward_name.as_deref(), Some("Blackburn Central"));
    assert_eq!(a.population, Some(1529));
    assert!(geo.provenance()[0].vintage.ends_with("(extract)"));
    // Decile counts stated in SOURCE.md.
    let mut counts = [0; 10];
    for a in geo.iter() {
        counts[usize::from(a.imd_decile.get() - 1)] += 1;
    }
    assert_eq!(counts, [212, 137, 130, 127, 112, 101, 132, 126, 112, 73]);
    assert!(matches!(geo.resolve("E01000001"), Err(ResolveError::Unknown { .. })));
}

// ------------------------------------------------------------------ broken files

#[test]
fn sample_fixture_loads() {
    let f = read(&fixture("imd2019_file2_sample.csv"));
    assert_eq!(f.format, FileFormat::Imd2019File2);
    assert_eq!(f.index.unwrap().len(), 6);
}

#[test]
fn wrong_headers() {
    let e = read_err(&fixture("imd2019_wrong_headers.csv"));
    let msg = e.to_string();
    assert!(matches!(e, GeoError::UnrecognisedHeaders { .. }));
    assert!(msg.contains("imd2019_wrong_headers.csv:1:1: unrecognised geography file"), "{msg}");
    assert!(msg.contains("headers found: LSOA | LSOA name | Rank | Decile"), "{msg}");
    assert!(msg.contains("IMD 2019 File 1/2/7"), "{msg}");
    assert!(msg.contains("ONS postcode directory"), "{msg}");
}

#[test]
fn duplicate_lsoa() {
    let e = read_err(&fixture("imd2019_duplicate_lsoa.csv"));
    let errs = data_errors(&e);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0]
            .to_string()
            .ends_with("imd2019_duplicate_lsoa.csv:5:1: duplicate LSOA E01012571 (first seen on line 2)"),
        "{}",
        errs[0]
    );
}

#[test]
fn rank_out_of_range() {
    let e = read_err(&fixture("imd2019_rank_out_of_range.csv"));
    let msgs: Vec<String> = data_errors(&e).iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs[0].ends_with(":3:5: IMD2019 rank 32845 is out of range 1..=32844"), "{msgs:?}");
    assert!(msgs[1].ends_with(":4:5: IMD2019 rank 0 is out of range 1..=32844"), "{msgs:?}");
}

#[test]
fn welsh_code_in_english_index() {
    let e = read_err(&fixture("imd2019_welsh_code.csv"));
    let errs = data_errors(&e);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0]
            .to_string()
            .ends_with(":3:1: W01000001 is a code from Wales, but the IMD2019 index covers England only"),
        "{}",
        errs[0]
    );
    // The whole WIMD file against the English reader is not possible by headers; but an
    // English LSOA-ward-IMD extract with a Welsh row is caught the same way.
}

#[test]
fn malformed_code() {
    let e = read_err(&fixture("imd2019_malformed_code.csv"));
    let msgs: Vec<String> = data_errors(&e).iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].ends_with(":3:1: malformed LSOA code \"E0101257\" (expected E01 followed by 6 digits)"),
        "{msgs:?}"
    );
    assert!(msgs[1].contains(":4:1: malformed LSOA code \"X01012702\""), "{msgs:?}");
}

#[test]
fn truncated_row() {
    let e = read_err(&fixture("imd2019_truncated_row.csv"));
    let msgs: Vec<String> = data_errors(&e).iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].ends_with(":4:8: row has 7 fields but the header has 20 (truncated or misaligned row)"),
        "{msgs:?}"
    );
}

#[test]
fn decile_mismatch() {
    let e = read_err(&fixture("imd2019_decile_mismatch.csv"));
    let msgs: Vec<String> = data_errors(&e).iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].ends_with(":3:6: IMD2019 decile 4 does not match rank 14636: expected 5 (ceil(rank x 10 / N), N = 32844)"),
        "{msgs:?}"
    );
}

#[test]
fn lsoa21_code_against_imd2019() {
    let e = read_err(&fixture("imd2019_lsoa21_code.csv"));
    let msgs: Vec<String> = data_errors(&e).iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].ends_with(":3:1: E01035000 is an LSOA2021 code, but this file is on LSOA2011 boundaries"),
        "{msgs:?}"
    );
}

#[test]
fn errors_are_capped() {
    let e = read_err(&fixture("imd2019_many_errors.csv"));
    match &e {
        GeoError::Invalid { errors, more, .. } => {
            assert_eq!(errors.len(), MAX_ERRORS);
            assert_eq!(*more, 10);
            assert_eq!(errors[0].to_string().split(':').nth(1), Some("2"));
        }
        other => panic!("{other}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("60 problem(s), nothing loaded"), "{msg}");
    assert!(msg.ends_with("... and 10 more"), "{msg}");
}

#[test]
fn inconsistent_ward_lookup() {
    let e = read_err(&fixture("ons_wards_inconsistent.csv"));
    let msgs: Vec<String> = data_errors(&e).iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs[0].ends_with(":3:6: E06000009: ward E05011508 is in LAD E06000008 on line 2"), "{msgs:?}");
    assert!(msgs[1].ends_with(":4:2: duplicate LSOA E01012571 (first seen on line 2)"), "{msgs:?}");
}

#[test]
fn bad_postcode_file() {
    let e = read_err(&fixture("nspl_bad.csv"));
    let msgs: Vec<String> = data_errors(&e).iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].ends_with(":3:3: duplicate postcode BB2 1LR (first seen on line 2)"), "{msgs:?}");
    assert!(msgs[1].contains(":4:26: malformed LSOA code \"E0102523\""), "{msgs:?}");
    assert!(msgs[2].contains(":5:3: malformed postcode \"BB2 XLR\""), "{msgs:?}");
}

#[test]
fn failed_loads_change_nothing() {
    let mut b = GeographyBuilder::new();
    b.builtin(Builtin::Imd2019).unwrap();
    for bad in [
        "imd2019_wrong_headers.csv",
        "imd2019_duplicate_lsoa.csv",
        "imd2019_rank_out_of_range.csv",
        "imd2019_welsh_code.csv",
        "imd2019_malformed_code.csv",
        "imd2019_truncated_row.csv",
    ] {
        assert!(b.index_file(&fixture(bad)).is_err(), "{bad}");
    }
    assert!(b.wards_file(&fixture("ons_wards_inconsistent.csv")).is_err());
    assert!(b.postcodes_file(&fixture("nspl_bad.csv")).is_err());
    // A valid file in the wrong role is refused too.
    let e = b.index_file(&data("ons_wd19_lad19_cty19_rgn19_ctry19_uk_lookup.csv")).unwrap_err();
    assert!(e.to_string().contains("this is ONS ward to LAD/region lookup"), "{e}");
    let e = b.wards_file(&fixture("imd2019_file2_sample.csv")).unwrap_err();
    assert!(matches!(e, GeoError::WrongRole { .. }), "{e}");
    let geo = b.build().unwrap();
    assert_eq!(geo.index().len(), 32_844);
    assert_eq!(geo.provenance()[0].source, "builtin imd2019");
    assert!(geo.postcodes().is_none());
}

#[test]
fn missing_file_names_the_path() {
    let e = read_file(Path::new("/nonexistent/imd.csv"), &ReadOptions::default()).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/imd.csv: cannot read:"), "{e}");
    let e = read_from("empty.csv", &b""[..], &ReadOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "empty.csv:1:1: empty file, expected a header line");
}

#[test]
fn bom_crlf_and_quoted_headers_from_a_reader() {
    // File 2's quirks in a few bytes: BOM, CRLF, a quoted header with commas, LF too.
    let text = "\u{feff}\"LSOA code (2011)\",\"Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)\",\"Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)\",\"Education, Skills and Training Rank (where 1 is most deprived)\"\r\nE01012571,\"2,666\",1,2534\nE01012572,1102,1,1847\r\n";
    let f = read_from("mini.csv", text.as_bytes(), &ReadOptions::default()).unwrap();
    assert_eq!(f.format, FileFormat::Imd2019File1);
    let t = f.index.unwrap();
    assert_eq!(t.rows()[0].rank, 2666);
    assert_eq!(t.rows()[1].line, 3);
}

/// A reader that hands out one byte at a time, to exercise buffer boundaries.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), out.is_empty()) {
            (Some((b, rest)), false) => {
                out[0] = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn line_numbers_with_crlf_cr_and_tiny_reads() {
    let header = "LSOA11CD,LSOA11NM,LAD19CD,LAD19NM,IMD19,FID";
    for eol in ["\r\n", "\n", "\r"] {
        let text = format!("\u{feff}{header}{eol}E01012571,A,E06000008,B,2666,1{eol}E01012571,A,E06000008,B,2666,2{eol}");
        let e = read_from("t.csv", Trickle(text.as_bytes()), &ReadOptions::default()).unwrap_err();
        assert_eq!(
            data_errors(&e)[0].to_string(),
            "t.csv:3:1: duplicate LSOA E01012571 (first seen on line 2)",
            "{eol:?}"
        );
    }
}

#[test]
fn official_file7_headers_are_recognised() {
    let id19 = "LSOA code (2011),LSOA name (2011),Local Authority District code (2019),Local Authority District name (2019)";
    let id25 = "LSOA code (2021),LSOA name (2021),Local Authority District code (2024),Local Authority District name (2024)";
    let imd = "Index of Multiple Deprivation (IMD) Score,Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived),Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)";
    let f7_19 = format!(
        "{id19},{imd},Income Score (rate),Total population: mid 2015 (excluding prisoners)\nE01012571,Blackburn with Darwen 007A,E06000008,Blackburn with Darwen,50.1,2666,1,0.3,\"1,704\"\n"
    );
    let f = read_from("f7.csv", f7_19.as_bytes(), &ReadOptions::default()).unwrap();
    assert_eq!(f.format, FileFormat::Imd2019File7);
    assert_eq!(f.population.unwrap().get(&AreaCode::new("E01012571").unwrap()), Some(1704));
    let f7_25 = format!("{id25},{imd},Total population: mid 2022\nE01000001,City of London 001A,E09000001,City of London,8.742,26525,8,1615\n");
    let f = read_from("f7_25.csv", f7_25.as_bytes(), &ReadOptions::default()).unwrap();
    assert_eq!(f.format, FileFormat::Imd2025File7);
    let t = f.index.unwrap();
    assert_eq!(t.kind(), IndexKind::Imd2025);
    assert_eq!(t.lad_name(&LadCode::new("E09000001").unwrap()), Some("City of London"));
    assert_eq!(f.population.unwrap().vintage(), LsoaVintage::Lsoa2021);
}
