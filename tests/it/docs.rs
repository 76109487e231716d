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
    let reference = read("docs/parameters.md");
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
            "channel {name} is missing from docs/parameters.md"
        );
        for p in channel["params"].as_array().unwrap() {
            names.push(p["name"].as_str().unwrap().to_string());
        }
    }
    for name in names {
        assert!(
            reference.contains(&format!("`{name}`")),
            "parameter {name} is missing from docs/parameters.md"
        );
    }
}

#[test]
fn readme_and_docs_stand_alone() {
    for file in ["README.md", "docs/parameters.md", "docs/deploy.md"] {
        let text = read(file);
        assert!(
            !text.contains("../shared") && !text.contains("SPEC.md"),
            "{file} sends the reader outside the repository"
        );
    }
    let readme = read("README.md");
    for link in ["docs/parameters.md", "docs/deploy.md", "docs/console.png"] {
        assert!(readme.contains(link), "README does not link {link}");
        assert!(
            crate::common::root().join(link).exists(),
            "{link} is missing"
        );
    }
}
