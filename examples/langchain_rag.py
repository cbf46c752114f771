"""LangChain: RAG over the bundled Chinese documents (examples/data/*.txt).

An in-memory vector store with a deterministic fake embedding keeps the example offline and free;
swap in a real embedding model (e.g. DashScope's text-embedding-v3) for real retrieval quality.

    python examples/langchain_rag.py
"""

from _gateway import DATA, gateway
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_cn_llm import ChatCNLLM

# One document per paragraph, tagged with its file name.
documents = [
    Document(page_content=paragraph, metadata={"source": path.name})
    for path in sorted(DATA.glob("*.txt"))
    for paragraph in path.read_text(encoding="utf-8").split("\n\n")
    if paragraph.strip()
]
store = InMemoryVectorStore.from_documents(documents, DeterministicFakeEmbedding(size=256))
retriever = store.as_retriever(search_kwargs={"k": 3})


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(f"[{d.metadata['source']}] {d.page_content}" for d in docs)


prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "只根据以下资料回答问题，并注明出处。\n\n{context}"),
        ("human", "{question}"),
    ]
)

with gateway() as settings:
    llm = ChatCNLLM(model="qwen3-max", temperature=0, **settings)
    chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | llm
    question = "乌龙茶属于哪一类茶？"
    answer = chain.invoke(question)
    print(f"indexed {len(documents)} passages from {DATA.name}/")
    print("question:", question)
    print("answer:", answer.content)
    print("usage:", answer.usage_metadata)
