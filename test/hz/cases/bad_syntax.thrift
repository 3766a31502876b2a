namespace cpp bad

struct Broken {
  1: string name
  2: list<string tags
}
