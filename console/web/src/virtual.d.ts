declare module 'virtual:docs' {
  const sections: { id: string; title: string; html: string }[];
  export default sections;
}
