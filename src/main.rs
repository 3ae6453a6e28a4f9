fn main() {
    println!("postdeploy: work in progress");
}
