//! The docs a person who clones the repository reads stay true to the service.

use crate::support::spawn;

fn read(path: &str) -> String {
    let path = crate::common::root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn the_parameter_reference_lists_every_parameter_of_every_channel() {
    let app = spawn("").await;
    let (_, described) = app.get("/api/channels").await;
    // Both editions, English and Russian, are kept complete.
    for file in ["docs/parameters.md", "docs/ru/parameters.md"] {
        let reference = read(file);
        let mut names: Vec<String> = described["common"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        for channel in described["channels"].as_array().unwrap() {
            let name = channel["name"].as_str().unwrap();
            assert!(
                reference.contains(&format!("`{name}`")),
                "channel {name} is missing from {file}"
            );
            for p in channel["params"].as_array().unwrap() {
                names.push(p["name"].as_str().unwrap().to_string());
            }
        }
        for name in names {
            assert!(
                reference.contains(&format!("`{name}`")),
                "parameter {name} is missing from {file}"
            );
        }
    }
}

#[test]
fn readme_and_docs_stand_alone() {
    let files = [
        "README.md",
        "README.ru.md",
        "docs/parameters.md",
        "docs/deploy.md",
        "docs/templates.md",
        "docs/ru/parameters.md",
        "docs/ru/templates.md",
        "docs/ru/troubleshooting.md",
        "docs/en/delivery.md",
        "docs/ru/delivery.md",
    ];
    for file in files {
        let text = read(file);
        assert!(
            !text.contains("../shared") && !text.contains("SPEC.md"),
            "{file} sends the reader outside the repository"
        );
        // Every relative link of the file leads to a file of the repository.
        let folder = std::path::Path::new(file).parent().unwrap();
        for link in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            if link.starts_with("http") || link.starts_with('#') || link.contains(' ') {
                continue;
            }
            let target = crate::common::root()
                .join(folder)
                .join(link.split('#').next().unwrap());
            assert!(target.exists(), "{file} links {link}, which is missing");
        }
    }
    let readme = read("README.md");
    // The Russian edition is linked in the README's first lines.
    assert!(
        readme.lines().take(5).any(|l| l.contains("README.ru.md")),
        "README.md does not link README.ru.md at the top"
    );
    for link in [
        "docs/parameters.md",
        "docs/deploy.md",
        "docs/console.png",
        "docs/templates.md",
        "docs/templates.png",
    ] {
        assert!(readme.contains(link), "README does not link {link}");
        assert!(
            crate::common::root().join(link).exists(),
            "{link} is missing"
        );
    }
}
